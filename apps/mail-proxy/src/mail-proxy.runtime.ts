/**
 * What the mail frontend builds from its bootstrap config: settings (defaults < config file; the
 * config watcher's KV bucket will feed them later), the shared route cache, the route client and
 * the TLS context.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
import { resolveSettings, type BootstrapConfig, type EffectiveSettings } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import { RouteClient } from '@postern/route-client';
import { LogLimiter, type Logger, type NatsConnection } from '@postern/service-kit';
import type { MailProxyMetrics } from './mail-proxy.metrics';
import type { SessionDeps } from './session';
import { AllowAllThrottle, LimitAwareThrottle, ThrottleClient, type ThrottleLimits, type ThrottlePort } from '@postern/throttle-client';
import { loadTlsContext } from './tls-context';
import { TcpUpstreamConnector } from './upstream';

/** During an outage every login falls back the same way: one line a second says so (the metric counts each). */
const FALLBACK_LOG_INTERVAL_MS = 1000;

export class MailProxyRuntime {
  private current: EffectiveSettings;
  readonly memcached: MemcachedClient;
  readonly deps: SessionDeps;

  constructor(
    readonly bootstrap: BootstrapConfig,
    nc: NatsConnection,
    metrics: MailProxyMetrics,
    private readonly logger: Logger,
  ) {
    this.current = resolveSettings({ overrides: bootstrap.attributes });
    this.memcached = new MemcachedClient({
      servers: [...bootstrap.memcachedServers],
      timeoutMs: this.current.zimbraReverseProxyCacheFetchTimeout,
      retryDeadServerMs: this.current.zimbraReverseProxyCacheReconnectInterval,
      onEvent: (event) => {
        if (event.type === 'server-down') logger.warn({ server: event.server, err: event.error }, 'memcached server down');
        if (event.type === 'server-up') logger.info({ server: event.server }, 'memcached server up');
      },
    });
    const cache = this.current.zimbraReverseProxyZmlookupCachingEnabled
      ? new RouteCache(this.memcached, {
          ttlSeconds: Math.ceil(this.current.zimbraReverseProxyCacheEntryTTL / 1000),
          onError: (op, error) => logger.warn({ op, err: error }, 'route cache error (treated as a miss)'),
        })
      : undefined;
    const tls: SecureContext | undefined = bootstrap.tlsCertFile && bootstrap.tlsKeyFile ? loadTlsContext(bootstrap.tlsCertFile, bootstrap.tlsKeyFile) : undefined;
    this.deps = {
      settings: () => this.current,
      routes: new RouteClient(nc, cache, undefined, {
        timeoutMs: () => this.current.posternRouteLookupRequestTimeout,
        hedgeAfterMs: () => this.current.posternRouteLookupHedgeDelay,
        onHedge: () => metrics.hedges.inc({ service: 'route-lookup' }),
      }),
      throttle: bootstrap.throttleEnabled ? this.throttleClient(nc, metrics) : new AllowAllThrottle(),
      upstreams: new TcpUpstreamConnector({
        verify: bootstrap.upstreamTlsVerify,
        ...(bootstrap.upstreamCaFile ? { ca: readFileSync(bootstrap.upstreamCaFile, 'utf8') } : {}),
      }),
      metrics,
      logger,
      tls,
      version: packageVersion(),
    };
  }

  /**
   * The login-throttle service over NATS. When it cannot answer within its budget (or the bus is
   * down) the fail mode decides (`posternThrottleFailClosed`, default open as Zimbra), counted
   * each time and logged at most once a second.
   */
  private throttleClient(nc: NatsConnection, metrics: MailProxyMetrics): ThrottlePort {
    const fallbackLog = new LogLimiter(FALLBACK_LOG_INTERVAL_MS);
    const client = new ThrottleClient(nc, {
      failClosed: () => this.current.posternThrottleFailClosed,
      failClosedMessage: () => this.current.zimbraReverseProxyIpThrottleMsg,
      timeoutMs: () => this.current.posternThrottleCheckTimeout,
      hedgeAfterMs: () => this.current.posternThrottleCheckHedgeDelay,
      onHedge: () => metrics.hedges.inc({ service: 'throttle' }),
      onFallback: ({ kind, code, verdict, error }) => {
        metrics.throttleFallbacks.inc({ kind, code, verdict });
        const suppressed = fallbackLog.take();
        if (suppressed !== undefined) this.logger.warn({ kind, code, verdict, err: error, suppressed }, 'throttle unavailable; the fail mode decided');
      },
    });
    // Checks whose limits are all off are not asked (the service would only say "allow").
    return new LimitAwareThrottle(client, () => throttleLimits(this.current));
  }

  get settings(): EffectiveSettings {
    return this.current;
  }

  /** Applies new settings (hot ones take effect for the next session); an invalid change is refused. */
  reload(attributes: Readonly<Record<string, unknown>>): void {
    try {
      this.current = resolveSettings({ overrides: attributes });
      this.logger.info('settings reloaded');
    } catch (error) {
      this.logger.error({ err: error }, 'settings reload refused; keeping the previous settings');
    }
  }

  async close(): Promise<void> {
    await this.memcached.close();
  }
}

/** The version in this app's package.json (one directory above src/ and dist/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The limits of the settings, as the throttle service applies them (a protocol's own limit when above 0). */
export function throttleLimits(s: EffectiveSettings): ThrottleLimits {
  const generic = s.zimbraReverseProxyIPLoginLimit;
  return {
    ip: {
      imap: s.zimbraReverseProxyIPLoginImapLimit > 0 ? s.zimbraReverseProxyIPLoginImapLimit : generic,
      pop3: s.zimbraReverseProxyIPLoginPop3Limit > 0 ? s.zimbraReverseProxyIPLoginPop3Limit : generic,
      http: generic,
    },
    user: s.zimbraReverseProxyUserLoginLimit,
    userFailures: s.posternFailedLoginUserLimit,
    ipFailures: s.posternFailedLoginIpLimit,
  };
}
