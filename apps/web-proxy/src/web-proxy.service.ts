/**
 * The web listener's life in the service: it starts once every provider is ready, /health
 * reports whether it is bound, and on shutdown (the service kit's `serving` step, before NATS
 * and memcached close) it stops accepting and lets requests in flight finish.
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import { RouteClient } from '@postern/route-client';
import { BOOTSTRAP, HealthChecks, LOGGER, NATS_CONNECTION, ServiceLifecycle, ServiceSettings, type Logger, type NatsConnection } from '@postern/service-kit';
import { WebProxyMetrics } from './web-proxy.metrics';
import { WebProxyServer } from './web-proxy-server';

/** How long requests in flight may take to finish on shutdown. */
const DRAIN_MS = 10_000;

@Injectable()
export class WebProxyService implements OnApplicationBootstrap {
  private readonly server: WebProxyServer;
  private port: number | undefined;

  constructor(
    @Inject(BOOTSTRAP) private readonly bootstrap: BootstrapConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(NATS_CONNECTION) nc: NatsConnection,
    memcached: MemcachedClient,
    private readonly settings: ServiceSettings,
    metrics: WebProxyMetrics,
    private readonly lifecycle: ServiceLifecycle,
    health: HealthChecks,
  ) {
    const current = () => settings.current;
    const cache = current().zimbraReverseProxyZmlookupCachingEnabled
      ? new RouteCache(memcached, {
          ttlSeconds: Math.ceil(current().zimbraReverseProxyCacheEntryTTL / 1000),
          onError: (op, error) => logger.warn({ op, err: error }, 'route cache error (treated as a miss)'),
        })
      : undefined;
    const routes = new RouteClient(nc, cache, undefined, {
      timeoutMs: () => current().posternRouteLookupRequestTimeout,
      hedgeAfterMs: () => current().posternRouteLookupHedgeDelay,
    });
    this.server = new WebProxyServer({ settings: current, routes, metrics, logger });
    health.add({ name: 'listener', check: () => this.port !== undefined });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.port = await this.server.listen(this.settings.current.zimbraMailProxyPort, this.bootstrap.bindHost);
    this.logger.info({ listener: 'http', host: this.bootstrap.bindHost, port: this.port }, 'listening');
    this.lifecycle.onShutdown('serving', 'web listener', () => this.server.stop(DRAIN_MS));
  }
}
