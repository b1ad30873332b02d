/** The route lookup service: NATS responder, directory, shared cache, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { metricsProvider, serviceModule, type Logger } from '@postern/service-kit';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteLookupRuntime } from './route-lookup.runtime';
import { RouteLookupService } from './route-lookup.service';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return serviceModule({
      module: AppModule,
      name: 'route-lookup',
      natsUrls: bootstrap.natsUrls,
      logger,
      providers: [
        metricsProvider(RouteLookupMetrics, (registry) => new RouteLookupMetrics(registry)),
        {
          provide: RouteLookupRuntime,
          useFactory: (metrics: RouteLookupMetrics) => RouteLookupRuntime.create(logger, metrics, bootstrap),
          inject: [RouteLookupMetrics],
        },
        RouteLookupService,
      ],
    });
  }
}
