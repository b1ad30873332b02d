/** The route lookup service: NATS responder, directory, shared cache, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { connectNats, createRegistry, HEALTH_CHECKS, LOGGER, METRICS_REGISTRY, ObservabilityController, type HealthCheck, type Logger, type NatsConnection } from '@postern/service-kit';
import type { Registry } from 'prom-client';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteLookupRuntime } from './route-lookup.runtime';
import { NATS_CONNECTION, RouteLookupService } from './route-lookup.service';

export const BOOTSTRAP = Symbol('BOOTSTRAP');

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      controllers: [ObservabilityController],
      providers: [
        { provide: BOOTSTRAP, useValue: bootstrap },
        { provide: LOGGER, useValue: logger },
        { provide: METRICS_REGISTRY, useFactory: () => createRegistry('route-lookup') },
        { provide: RouteLookupMetrics, useFactory: (registry: Registry) => new RouteLookupMetrics(registry), inject: [METRICS_REGISTRY] },
        {
          provide: RouteLookupRuntime,
          useFactory: (metrics: RouteLookupMetrics) => RouteLookupRuntime.create(logger, metrics, bootstrap),
          inject: [RouteLookupMetrics],
        },
        { provide: NATS_CONNECTION, useFactory: () => connectNats(bootstrap.natsUrls, 'route-lookup', logger) },
        {
          provide: HEALTH_CHECKS,
          useFactory: (nc: NatsConnection): HealthCheck[] => [{ name: 'nats', check: () => !nc.isClosed() && !nc.isDraining() }],
          inject: [NATS_CONNECTION],
        },
        RouteLookupService,
      ],
    };
  }
}
