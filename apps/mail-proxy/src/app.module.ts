/** The IMAP/POP3 frontend: listeners, sessions, route and throttle clients, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { metricsProvider, NATS_CONNECTION, serviceModule, type Logger, type NatsConnection } from '@postern/service-kit';
import { MailProxyMetrics } from './mail-proxy.metrics';
import { MailProxyRuntime } from './mail-proxy.runtime';
import { MailProxyService } from './mail-proxy.service';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return serviceModule({
      module: AppModule,
      name: 'mail-proxy',
      natsUrls: bootstrap.natsUrls,
      logger,
      providers: [
        metricsProvider(MailProxyMetrics, (registry) => new MailProxyMetrics(registry)),
        {
          provide: MailProxyRuntime,
          useFactory: (nc: NatsConnection, metrics: MailProxyMetrics) => new MailProxyRuntime(bootstrap, nc, metrics, logger),
          inject: [NATS_CONNECTION, MailProxyMetrics],
        },
        MailProxyService,
      ],
      health: { inject: [MailProxyService], checks: (service: MailProxyService) => [{ name: 'listeners', check: () => service.listeners.bound.length > 0 }] },
    });
  }
}
