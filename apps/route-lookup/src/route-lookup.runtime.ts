/**
 * Everything the service builds from its bootstrap config: the directory, the effective settings
 * (reloaded on SIGHUP: every route-lookup setting is hot), the route cache and the resolver.
 */
import { loadBootstrap, resolveSettings, type BootstrapConfig, type EffectiveSettings } from '@postern/config';
import { LdapDirectory, LdifDirectory, ZimbraDirectory, type DirectoryBackend, type ZimbraQueries } from '@postern/directory';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import type { Logger } from '@postern/service-kit';
import { DirectoryMemo } from './directory-memo';
import { RouteResolver } from './route-resolver';
import type { RouteLookupMetrics } from './route-lookup.metrics';

/** How long domain and server entries are remembered in-process (see DirectoryMemo). */
const DIRECTORY_MEMO_TTL_MS = 60_000;

export function queriesFrom(settings: EffectiveSettings): ZimbraQueries {
  return {
    mailHostQuery: settings.zimbraReverseProxyMailHostQuery,
    mailHostSearchBase: settings.zimbraReverseProxyMailHostSearchBase,
    mailHostAttribute: settings.zimbraReverseProxyMailHostAttribute,
    userNameAttribute: settings.zimbraReverseProxyUserNameAttribute || undefined,
    portQuery: settings.zimbraReverseProxyPortQuery,
    portSearchBase: settings.zimbraReverseProxyPortSearchBase,
    domainNameQuery: settings.zimbraReverseProxyDomainNameQuery,
    domainNameSearchBase: settings.zimbraReverseProxyDomainNameSearchBase,
    domainNameAttribute: settings.zimbraReverseProxyDomainNameAttribute,
  };
}

export function createBackend(bootstrap: BootstrapConfig, operationTimeoutMs: number): DirectoryBackend {
  if (bootstrap.ldapUrls.length > 0) {
    return new LdapDirectory({
      urls: bootstrap.ldapUrls,
      bindDn: bootstrap.ldapBindDn,
      bindPassword: bootstrap.ldapBindPassword,
      baseDn: bootstrap.ldapBaseDn,
      connectTimeoutMs: bootstrap.ldapConnectTimeoutMs,
      timeoutMs: operationTimeoutMs,
    });
  }
  return LdifDirectory.fromFile(bootstrap.directoryLdif!, { baseDn: bootstrap.ldapBaseDn });
}

/** Reads global config and this node's server entry from the directory and resolves the settings. */
export async function loadSettings(directory: ZimbraDirectory, bootstrap: BootstrapConfig): Promise<EffectiveSettings> {
  const global = await directory.globalConfig();
  const server = bootstrap.serverName ? ((await directory.findServer(bootstrap.serverName))?.attributes ?? undefined) : undefined;
  return resolveSettings({ global: global ?? undefined, server, overrides: bootstrap.attributes });
}

export class RouteLookupRuntime {
  private current: { settings: EffectiveSettings; cache: RouteCache; resolver: RouteResolver };

  private constructor(
    readonly bootstrap: BootstrapConfig,
    readonly backend: DirectoryBackend,
    readonly memcached: MemcachedClient,
    private readonly onCacheError: (op: string, error: Error) => void,
    settings: EffectiveSettings,
    private readonly logger: Logger,
  ) {
    this.current = this.build(settings);
  }

  /** Builds the runtime; fails (with the attribute named) when the config is invalid. */
  static async create(logger: Logger, metrics: RouteLookupMetrics, bootstrap: BootstrapConfig = loadBootstrap()): Promise<RouteLookupRuntime> {
    // The LDAP operation timeout is bounded by the lookup timeout; the default applies until the
    // settings are read.
    const backend = createBackend(bootstrap, 15_000);
    const settings = await loadSettings(new ZimbraDirectory(backend), bootstrap);
    const memcached = new MemcachedClient({
      servers: [...bootstrap.memcachedServers],
      timeoutMs: settings.zimbraReverseProxyCacheFetchTimeout,
      retryDeadServerMs: settings.zimbraReverseProxyCacheReconnectInterval,
      onEvent: (event) => {
        if (event.type === 'server-down') logger.warn({ server: event.server, err: event.error }, 'memcached server down');
        if (event.type === 'server-up') logger.info({ server: event.server }, 'memcached server up');
      },
    });
    const onCacheError = (op: string, error: Error) => {
      metrics.cache.inc({ result: 'error' });
      logger.warn({ op, err: error }, 'route cache error (treated as a miss)');
    };
    return new RouteLookupRuntime(bootstrap, backend, memcached, onCacheError, settings, logger);
  }

  get settings(): EffectiveSettings {
    return this.current.settings;
  }
  get cache(): RouteCache {
    return this.current.cache;
  }
  get resolver(): RouteResolver {
    return this.current.resolver;
  }

  /** Re-reads the settings from the directory. An invalid change is refused and the old settings stay. */
  async reload(): Promise<void> {
    try {
      const settings = await loadSettings(new ZimbraDirectory(this.backend), this.bootstrap);
      this.current = this.build(settings);
      this.logger.info('settings reloaded');
    } catch (error) {
      this.logger.error({ err: error }, 'settings reload refused; keeping the previous settings');
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.backend.close(), this.memcached.close()]);
  }

  private build(settings: EffectiveSettings) {
    const memo = new DirectoryMemo(new ZimbraDirectory(this.backend, queriesFrom(settings)), DIRECTORY_MEMO_TTL_MS);
    // TTL 0 means "until invalidated" in Zimbra and in memcached alike.
    const cache = new RouteCache(this.memcached, { ttlSeconds: Math.ceil(settings.zimbraReverseProxyCacheEntryTTL / 1000), onError: this.onCacheError });
    return { settings, cache, resolver: new RouteResolver(memo, cache, () => settings) };
  }
}
