/**
 * What every mail session is given (SessionDeps), as a provider: the live settings, the route
 * client over the shared cache and the lookup service, the throttle client (or none), the
 * upstream connector, the TLS context, metrics and logger.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
import type { FactoryProvider } from '@nestjs/common';
import type { BootstrapConfig, EffectiveSettings } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { frontendRouteClient } from '@postern/route-client';
import { VirtualHostCertificates, virtualHostDirectory } from '@postern/directory';
import { ConfigFeed } from '@postern/config-store';
import { BOOTSTRAP, LOGGER, LogLimiter, NATS_CONNECTION, ServiceLifecycle, ServiceSettings, type Logger, type NatsConnection } from '@postern/service-kit';
import { AllowAllThrottle, LimitAwareThrottle, ThrottleClient, throttleLimitsOf, type ThrottleLimits, type ThrottlePort } from '@postern/throttle-client';
import { JwtBearerCheck } from './login/bearer/bearer-token-check';
import { gssapiPort } from './login/gssapi-login';
import { LiveSessions } from './server/live-sessions';
import { LocalThrottle } from './throttle/local-throttle';
import { RefusalWindows } from './login/login-audit';
import { MailProxyMetrics } from './mail-proxy.metrics';
import type { SessionDeps } from './session/session';
import { loadTlsContext } from './server/tls-context';
import { TcpUpstreamConnector } from './upstream/upstream';

/** During an outage every login falls back the same way: one line a second says so (the metric counts each). */
const FALLBACK_LOG_INTERVAL_MS = 1000;

/** Injection token of the sessions' {@link SessionDeps}. */
export const SESSION_DEPS = Symbol('SESSION_DEPS');

export const sessionDepsProvider: FactoryProvider<SessionDeps> = {
  provide: SESSION_DEPS,
  inject: [BOOTSTRAP, ServiceSettings, NATS_CONNECTION, MemcachedClient, MailProxyMetrics, LOGGER, ServiceLifecycle, ConfigFeed],
  useFactory: (
    bootstrap: BootstrapConfig,
    settings: ServiceSettings,
    nc: NatsConnection,
    memcached: MemcachedClient,
    metrics: MailProxyMetrics,
    logger: Logger,
    lifecycle: ServiceLifecycle,
    feed: ConfigFeed,
  ): SessionDeps => {
    const current = () => settings.current;
    const tls: SecureContext | undefined =
      bootstrap.tlsCertFile && bootstrap.tlsKeyFile ? loadTlsContext(bootstrap.tlsCertFile, bootstrap.tlsKeyFile) : undefined;
    return {
      settings: current,
      routes: frontendRouteClient(nc, memcached, current, {
        onCacheError: (op, error) => logger.warn({ op, err: error }, 'route cache error (treated as a miss)'),
        onHedge: () => metrics.hedges.inc({ service: 'route-lookup' }),
      }),
      throttle: bootstrap.throttleEnabled ? throttlePort(settings, nc, memcached, metrics, logger) : new AllowAllThrottle(),
      upstreams: new TcpUpstreamConnector({
        verify: bootstrap.upstreamTlsVerify,
        ...(bootstrap.upstreamCaFile ? { ca: readFileSync(bootstrap.upstreamCaFile, 'utf8') } : {}),
      }),
      metrics,
      logger,
      tls,
      ...(tls ? sniFromDirectory(bootstrap, settings, feed, tls, logger, lifecycle) : {}),
      version: packageVersion(),
      live: new LiveSessions(bootstrap.serverName ?? hostname()),
      refusals: new RefusalWindows(logger, () => settings.current.posternThrottledIpLogWindow),
      bearerTokens: new JwtBearerCheck(current),
      gssapi: gssapiPort(current, bootstrap.masterAuthPassword),
    };
  },
};

/**
 * The throttle as `posternThrottleChecks` says: the same policy as the login-throttle service run
 * here against the shared counters (local-throttle.ts, the default), or the service over NATS. When a verdict cannot be had
 * within its budget (service, bus or memcached down) the fail mode decides
 * (`posternThrottleFailClosed`, default open as Zimbra), counted each time and logged at most
 * once a second.
 */
function throttlePort(service: ServiceSettings, nc: NatsConnection, memcached: MemcachedClient, metrics: MailProxyMetrics, logger: Logger): ThrottlePort {
  const settings = (): EffectiveSettings => service.current;
  const fallbackLog = new LogLimiter(FALLBACK_LOG_INTERVAL_MS);
  const onFallback = ({ kind, code, verdict, error }: { kind: string; code: string; verdict: string; error: Error }) => {
    metrics.throttleFallbacks.inc({ kind, code, verdict });
    const suppressed = fallbackLog.take();
    if (suppressed !== undefined) logger.warn({ kind, code, verdict, err: error, suppressed }, 'throttle unavailable; the fail mode decided');
  };
  const checks =
    settings().posternThrottleChecks === 'local'
      ? new LocalThrottle(memcached, service, logger, onFallback, (kind, verdict) => metrics.throttleChecks.inc({ kind, verdict }))
      : new ThrottleClient(nc, {
          failClosed: () => settings().posternThrottleFailClosed,
          failClosedMessage: () => settings().zimbraReverseProxyIpThrottleMsg,
          timeoutMs: () => settings().posternThrottleCheckTimeout,
          hedgeAfterMs: () => settings().posternThrottleCheckHedgeDelay,
          onHedge: () => metrics.hedges.inc({ service: 'throttle' }),
          onFallback,
        });
  logger.info({ checks: settings().posternThrottleChecks }, 'login throttle');
  // Checks whose limits are all off are not made (they could only say "allow"). The limits are
  // read again only when the settings were (a reload replaces the object), not on every check.
  let read: { settings: EffectiveSettings; limits: ThrottleLimits } | undefined;
  const limits = () => {
    const current = settings();
    if (read?.settings !== current) read = { settings: current, limits: throttleLimitsOf(current) };
    return read.limits;
  };
  return new LimitAwareThrottle(checks, limits);
}

/** The LDAP operation timeout of a domain certificate's read (a handshake waits for it once per name). */
const CERTIFICATE_READ_TIMEOUT_MS = 5_000;

/**
 * IMAPS, POP3S and STARTTLS pick the certificate by the client's SNI name, as the web proxy does:
 * the domain whose zimbraVirtualHostname it is (zimbraSSLCertificate, zimbraSSLPrivateKey), the
 * default for any other name. Zimbra's proxy needed an address per domain for that. Only with a
 * directory configured (POSTERN_LDAP_URLS or POSTERN_DIRECTORY_LDIF); SIGHUP and a config event for
 * the domain re-read them.
 */
function sniFromDirectory(
  bootstrap: BootstrapConfig,
  settings: ServiceSettings,
  feed: ConfigFeed,
  defaultContext: SecureContext,
  logger: Logger,
  lifecycle: ServiceLifecycle,
): Pick<SessionDeps, 'sni'> {
  const directory = virtualHostDirectory(bootstrap, settings.current, CERTIFICATE_READ_TIMEOUT_MS, (close) =>
    lifecycle.onShutdown('stores', 'directory', close),
  );
  if (!directory) return {};
  const certificates = new VirtualHostCertificates(directory, defaultContext, logger);
  settings.onReload(() => certificates.refresh());
  feed.onChange((change) => {
    if (change.scope === 'domain') certificates.refresh();
    return true;
  });
  return { sni: (serverName, done) => void certificates.contextFor(serverName).then((context) => done(null, context)) };
}

/** The version in this app's package.json (one directory above src/ and dist/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
