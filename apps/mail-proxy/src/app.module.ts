/** The IMAP/POP3 frontend: listeners, sessions, route client, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { connectNats, createRegistry, HEALTH_CHECKS, LOGGER, METRICS_REGISTRY, ObservabilityController, type HealthCheck, type Logger, type NatsConnection } from '@postern/service-kit';
import type { Registry } from 'prom-client';
import { MailProxyMetrics } from './mail-proxy.metrics';
import { MailProxyRuntime } from './mail-proxy.runtime';
import { MailProxyService, NATS_CONNECTION } from './mail-proxy.service';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      controllers: [ObservabilityController],
      providers: [
        { provide: LOGGER, useValue: logger },
        { provide: METRICS_REGISTRY, useFactory: () => createRegistry('mail-proxy') },
        { provide: MailProxyMetrics, useFactory: (registry: Registry) => new MailProxyMetrics(registry), inject: [METRICS_REGISTRY] },
        { provide: NATS_CONNECTION, useFactory: () => connectNats(bootstrap.natsUrls, 'mail-proxy', logger) },
        {
          provide: MailProxyRuntime,
          useFactory: (nc: NatsConnection, metrics: MailProxyMetrics) => new MailProxyRuntime(bootstrap, nc, metrics, logger),
          inject: [NATS_CONNECTION, MailProxyMetrics],
        },
        MailProxyService,
        {
          provide: HEALTH_CHECKS,
          useFactory: (nc: NatsConnection, service: MailProxyService): HealthCheck[] => [
            { name: 'nats', check: () => !nc.isClosed() && !nc.isDraining() },
            { name: 'listeners', check: () => service.listeners.bound.length > 0 },
          ],
          inject: [NATS_CONNECTION, MailProxyService],
        },
      ],
    };
  }
}
