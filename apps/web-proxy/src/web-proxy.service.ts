/**
 * The web listeners' life in the service: they start once every provider is ready, /health
 * reports whether one is bound, and on shutdown (the service kit's `serving` step, before NATS
 * and memcached close) they stop accepting and let requests in flight finish. The HTTPS side
 * needs the default certificate (POSTERN_TLS_CERT_FILE/KEY_FILE); the virtual hosts' own come from
 * the directory when one is configured (POSTERN_LDAP_URLS or POSTERN_DIRECTORY_LDIF), re-read on
 * SIGHUP and on a config event for their domain, as are the pools (web-pools.ts) on a server's
 * event; an account's invalidation drops its memoised routes.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { VirtualHostCertificates, VirtualHostNames, virtualHostDirectory, type ZimbraDirectory } from '@postern/directory';
import { MemcachedClient } from '@postern/memcached';
import { frontendRouteClient } from '@postern/route-client';
import { RouteInvalidateContract } from '@postern/contracts';
import { ConfigFeed } from '@postern/config-store';
import {
  BOOTSTRAP,
  HealthChecks,
  LOGGER,
  NATS_CONNECTION,
  ServiceLifecycle,
  ServiceSettings,
  subscribeEvents,
  type Logger,
  type NatsConnection,
} from '@postern/service-kit';
import { WebProxyMetrics } from './web-proxy.metrics';
import { WebPools } from './web-pools';
import { WebProxyServer, type WebProxyDeps } from './web-proxy-server';

/** How long requests in flight may take to finish on shutdown. */
const DRAIN_MS = 10_000;
/** The LDAP operation timeout of a virtual host's read (a handshake or a Host check waits for it once per name). */
const DIRECTORY_READ_TIMEOUT_MS = 5_000;

@Injectable()
export class WebProxyService implements OnApplicationBootstrap {
  private readonly server: WebProxyServer;
  private readonly pools: WebPools;

  constructor(
    @Inject(BOOTSTRAP) private readonly bootstrap: BootstrapConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(NATS_CONNECTION) nc: NatsConnection,
    memcached: MemcachedClient,
    private readonly settings: ServiceSettings,
    metrics: WebProxyMetrics,
    private readonly lifecycle: ServiceLifecycle,
    health: HealthChecks,
    private readonly feed: ConfigFeed,
  ) {
    const current = () => settings.current;
    const routes = frontendRouteClient(nc, memcached, current, {
      onCacheError: (op, error) => logger.warn({ op, err: error }, 'route cache error (treated as a miss)'),
    });
    const directory = virtualHostDirectory(bootstrap, current(), DIRECTORY_READ_TIMEOUT_MS, (close) => lifecycle.onShutdown('stores', 'directory', close));
    const names = new VirtualHostNames(directory, bootstrap.serverName ? [bootstrap.serverName.toLowerCase()] : [], logger);
    settings.onReload(() => names.refresh());
    this.pools = new WebPools(directory, current, logger, (pools, refused) => {
      metrics.poolServers.set({ pool: 'main' }, pools.main.length);
      metrics.poolServers.set({ pool: 'login' }, pools.login.length);
      metrics.poolServers.set({ pool: 'refused' }, refused.length);
    });
    settings.onReload(() => void this.pools.refresh());
    this.server = new WebProxyServer({
      pools: this.pools,
      names,
      settings: current,
      routes,
      metrics,
      logger,
      upstreamTls: { verify: bootstrap.upstreamTlsVerify, ...(bootstrap.upstreamCaFile ? { ca: readFileSync(bootstrap.upstreamCaFile, 'utf8') } : {}) },
      ...this.tlsSide(metrics, directory),
    });
    health.add({ name: 'listeners', check: () => Object.keys(this.server.ports).length > 0 });
    // Config events: a domain's virtual hosts and certificates are read again on their next use; any
    // server's change can change the pools. (This node's own layers reload the settings, see settingsProvider.)
    feed.onChange((change) => {
      if (change.scope === 'domain') names.refresh();
      if (change.scope === 'server' || change.scope === 'global') void this.pools.refresh();
      return true;
    });
    const routesDropped = subscribeEvents(
      nc,
      RouteInvalidateContract,
      (invalidation) => {
        const dropped = this.server.forgetAccount(invalidation);
        if (dropped > 0) metrics.routesDropped.inc({ reason: 'invalidated' }, dropped);
      },
      logger,
    );
    lifecycle.onShutdown('serving', 'route invalidations', async () => routesDropped.unsubscribe());
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.pools.start();
    this.lifecycle.onShutdown('serving', 'web pools', async () => this.pools.stop());
    const s = this.settings.current;
    const ports = await this.server.listen({ http: s.zimbraMailProxyPort, https: s.zimbraMailSSLProxyPort }, this.bootstrap.bindHost);
    // A port or a mail mode changed (SIGHUP, the config bucket): only the listeners it concerns move.
    this.settings.onReload((result, next) => {
      if (result === 'ok') void this.server.reopenChanged({ http: next.zimbraMailProxyPort, https: next.zimbraMailSSLProxyPort });
    });
    if (ports.https === undefined && s.zimbraReverseProxyMailMode !== 'http')
      this.logger.warn({ mode: s.zimbraReverseProxyMailMode }, 'no HTTPS listener: no certificate (POSTERN_TLS_CERT_FILE, POSTERN_TLS_KEY_FILE)');
    this.lifecycle.onShutdown('serving', 'web listeners', () => this.server.stop(DRAIN_MS));
  }

  /** The default certificate, and the virtual hosts' from the directory. */
  private tlsSide(metrics: WebProxyMetrics, directory: ZimbraDirectory | undefined): Pick<WebProxyDeps, 'tls'> {
    const { tlsCertFile, tlsKeyFile } = this.bootstrap;
    if (!tlsCertFile || !tlsKeyFile) return {};
    const cert = readFileSync(tlsCertFile, 'utf8');
    const key = readFileSync(tlsKeyFile, 'utf8');
    const certificates = new VirtualHostCertificates(directory, createSecureContext({ cert, key }), this.logger, (source) =>
      metrics.handshakes.inc({ certificate: source }),
    );
    this.settings.onReload(() => certificates.refresh());
    this.feed.onChange((change) => {
      if (change.scope === 'domain') certificates.refresh();
      return true;
    });
    return { tls: { cert, key, certificates } };
  }
}
