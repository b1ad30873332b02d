/** The config-watcher: the directory's change source, the config stream and bucket, route invalidation, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import { loadBootstrap, resolveSettings, type BootstrapConfig } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import {
  LOGGER,
  memcachedProvider,
  metricsProvider,
  NATS_CONNECTION,
  ServiceKitModule,
  ServiceSettings,
  settingsProvider,
  type Logger,
  type NatsConnection,
} from '@postern/service-kit';
import { ConfigWatcherMetrics } from './config-watcher.metrics';
import { ConfigWatcherService } from './config-watcher.service';
import { RouteInvalidator } from './route-invalidator';
import { WATCHER_OPTIONS } from './tokens';
import { watchedDirectoryProvider } from './watched-directory';
import type { WatcherOptions } from './watcher-options';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger, options: WatcherOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ name: 'config-watcher', bootstrap, logger })],
      providers: [
        { provide: WATCHER_OPTIONS, useValue: options },
        metricsProvider(ConfigWatcherMetrics, (registry) => new ConfigWatcherMetrics(registry)),
        // Its own settings as every service reads them (the cache TTL and namespace, the mail-host attribute).
        settingsProvider({ load: (layers) => resolveSettings({ ...layers, overrides: loadBootstrap().attributes }) }),
        memcachedProvider,
        watchedDirectoryProvider,
        {
          provide: RouteInvalidator,
          inject: [MemcachedClient, NATS_CONNECTION, ServiceSettings, LOGGER],
          useFactory: (memcached: MemcachedClient, nc: NatsConnection, settings: ServiceSettings, log: Logger) =>
            new RouteInvalidator(
              new RouteCache(memcached, {
                ttlSeconds: Math.ceil(settings.current.zimbraReverseProxyCacheEntryTTL / 1000),
                onError: (op, error) => log.warn({ op, err: error }, 'route cache error while dropping routes'),
              }),
              nc,
            ),
        },
        ConfigWatcherService,
      ],
    };
  }
}
