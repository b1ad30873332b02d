/**
 * What every Postern service is made of, written once as a Nest module: the bootstrap config,
 * logger, metrics registry and NATS connection as providers, /metrics and /health, the NATS
 * responders and the ordered stop (ServiceLifecycle). A service is a module that imports it and
 * adds its settings (`settingsProvider`), memcached (`memcachedProvider`), metrics
 * (`metricsProvider`) and its own providers.
 */
import { Module, type DynamicModule, type FactoryProvider, type Type } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { ConfigFeed } from '@postern/config-store';
import type { Registry } from 'prom-client';
import { configFeedMetrics } from './config-feed.metrics';
import { HealthChecks } from './health';
import { ServiceLifecycle } from './lifecycle';
import type { Logger } from './logger';
import { createRegistry } from './metrics';
import { closeNats, connectNats, isNatsConnected, type NatsConnection } from './nats-connection';
import { ObservabilityController } from './observability.controller';
import { Responders } from './responder-service';
import { BOOTSTRAP, LOGGER, METRICS_REGISTRY, NATS_CONNECTION } from './tokens';

export interface ServiceKitOptions {
  /** The service's name: metrics label, NATS connection name, log field. */
  readonly name: string;
  readonly bootstrap: BootstrapConfig;
  readonly logger: Logger;
}

@Module({})
export class ServiceKitModule {
  /** The shared providers, global so that every module of the service can inject them. */
  static forRoot(options: ServiceKitOptions): DynamicModule {
    const { name, bootstrap, logger } = options;
    return {
      module: ServiceKitModule,
      global: true,
      controllers: [ObservabilityController],
      providers: [
        { provide: BOOTSTRAP, useValue: bootstrap },
        { provide: LOGGER, useValue: logger },
        { provide: METRICS_REGISTRY, useFactory: () => createRegistry(name) },
        ServiceLifecycle,
        {
          provide: NATS_CONNECTION,
          inject: [ServiceLifecycle],
          useFactory: async (lifecycle: ServiceLifecycle) => {
            const nc = await connectNats(bootstrap.natsUrls, name, logger, { expectingDisconnect: () => lifecycle.stopping });
            lifecycle.onShutdown('bus', 'nats', () => closeNats(nc, logger));
            return nc;
          },
        },
        {
          provide: HealthChecks,
          inject: [NATS_CONNECTION, ServiceLifecycle],
          useFactory: (nc: NatsConnection, lifecycle: ServiceLifecycle) => {
            const checks = new HealthChecks();
            checks.add({ name: 'nats', check: () => !nc.isClosed() && !nc.isDraining() });
            // Draining: orchestrators should stop sending work here.
            checks.add({ name: 'serving', check: () => !lifecycle.stopping });
            return checks;
          },
        },
        Responders,
        {
          // The effective config from the KV bucket, read before the service's settings are.
          provide: ConfigFeed,
          inject: [NATS_CONNECTION, METRICS_REGISTRY, ServiceLifecycle],
          useFactory: async (nc: NatsConnection, registry: Registry, lifecycle: ServiceLifecycle) => {
            const holder: { feed?: ConfigFeed } = {};
            const feed = new ConfigFeed(nc, {
              serverName: bootstrap.serverName,
              logger,
              metrics: configFeedMetrics(registry, () => holder.feed),
              connected: () => isNatsConnected(nc),
            });
            holder.feed = feed;
            lifecycle.onShutdown('serving', 'config feed', async () => feed.stop());
            await feed.start();
            return feed;
          },
        },
      ],
      exports: [BOOTSTRAP, LOGGER, METRICS_REGISTRY, NATS_CONNECTION, ServiceLifecycle, HealthChecks, Responders, ConfigFeed],
    };
  }
}

/** A provider built from the metrics registry (each service's metrics class). */
export function metricsProvider<T>(token: Type<T>, build: (registry: Registry) => T): FactoryProvider<T> {
  return { provide: token, useFactory: build, inject: [METRICS_REGISTRY] };
}
