/**
 * How a frontend finds a user's mailbox server: the shared cache first (no round trip to a
 * service), the route lookup service over NATS on a miss. Both within the login's deadline.
 *
 * A cached entry is used only when it is complete: alias → account → route. An unqualified login
 * or one whose alias is not cached goes to the lookup service, which qualifies it and fills the
 * cache for next time.
 *
 * A lookup over NATS has a budget of its own (`posternRouteLookupRequestTimeout`) inside the
 * login's, is sent again to another instance when its answer is late (lookups are idempotent),
 * and fails `UNAVAILABLE` at once while the bus is down: cached users keep logging in, the others
 * get a temporary failure without waiting.
 */
import { ErrorCode, PosternError, RouteLookupContract, type RouteLookupRequest, type RouteLookupResult, type RouteProtocol } from '@postern/contracts';
import { isIpAllowed } from '@postern/ip-address';
import { loginNameScopeOf, RouteCache, type RouteCacheClient } from '@postern/route-cache';
import { Settings, type EffectiveSettings } from '@postern/config';
import { hedgedRequest, type Deadline, type NatsConnection } from '@postern/service-kit';

export interface RouteQuery {
  /**
   * `name`: a login as typed (the default); `id`: an account's zimbraId (a web token's);
   * `principal`: a verified Kerberos principal (GSSAPI). Only `name` is answered from the cache.
   */
  readonly by?: 'name' | 'id' | 'principal';
  readonly login: string;
  /** With `by: 'principal'`: the authorization identity the client asked for. */
  readonly authzid?: string;
  readonly protocol: RouteProtocol;
  readonly clientIp: string;
  readonly proxyIp?: string;
  readonly virtualHost?: string;
  readonly requestId?: string;
}

/** The frontend's view: find a route, forget one that turned out stale. */
export interface RouteResolverPort {
  /** Throws {@link PosternError} (`UNAVAILABLE`/`TIMEOUT`) when neither the cache nor the service can answer in time. */
  resolve(query: RouteQuery, deadline: Deadline): Promise<RouteLookupResult>;
  /** Drops the cached route of an account (after the upstream refused a login: the mailbox may have moved). */
  forget(accountName: string, accountId: string, query: Pick<RouteQuery, 'login' | 'protocol' | 'proxyIp' | 'virtualHost'>): Promise<void>;
}

/** How lookups over NATS are sent; functions are read per lookup, so hot settings can be passed as getters. */
export interface RouteLookupBudget {
  /** The budget of one lookup (ms), capped by the login's deadline; default `posternRouteLookupRequestTimeout`'s. */
  readonly timeoutMs?: number | (() => number);
  /** Sends the lookup once more after this long without an answer (ms; 0 = never); default `posternRouteLookupHedgeDelay`'s. */
  readonly hedgeAfterMs?: number | (() => number);
  /** Called when a lookup is sent a second time (for metrics). */
  readonly onHedge?: () => void;
}

export class RouteClient implements RouteResolverPort {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cache: RouteCache | undefined,
    private readonly onCache?: (result: 'hit' | 'miss') => void,
    private readonly budget: RouteLookupBudget = {},
  ) {}

  async resolve(query: RouteQuery, deadline: Deadline): Promise<RouteLookupResult> {
    const by = query.by ?? 'name';
    if (this.cache && by === 'name') {
      const scope = loginNameScopeOf(query);
      const cached = await deadline.run('route cache', this.cache.routeForLogin(query.protocol, query.login, scope)).catch(() => null);
      this.onCache?.(cached ? 'hit' : 'miss');
      if (cached && isIpAllowed(query.clientIp, cached.allowedIps)) {
        const { host, port, accountName, accountId, upstreamUser, external } = cached;
        return { outcome: 'ROUTE', route: { host, port, accountName, accountId, upstreamUser, external }, source: 'cache' };
      }
      // A cached route whose domain refuses this client: the lookup service gives the refusal with its wait.
    }
    const remaining = Math.min(deadline.remaining(), read(this.budget.timeoutMs) ?? Settings.posternRouteLookupRequestTimeout.default);
    if (remaining < 1) throw new PosternError(ErrorCode.Timeout, 'route lookup: deadline passed');
    const request: RouteLookupRequest = {
      by,
      user: query.login,
      ...(query.authzid !== undefined ? { authzid: query.authzid } : {}),
      protocol: query.protocol,
      clientIp: query.clientIp,
      ...(query.proxyIp ? { proxyIp: query.proxyIp } : {}),
      ...(query.virtualHost ? { virtualHost: query.virtualHost } : {}),
      ...(query.requestId ? { requestId: query.requestId } : {}),
      deadlineMs: Math.min(remaining, 600_000),
    };
    const { onHedge } = this.budget;
    return hedgedRequest(this.nc, RouteLookupContract, request, {
      timeoutMs: remaining,
      hedgeAfterMs: read(this.budget.hedgeAfterMs) ?? Settings.posternRouteLookupHedgeDelay.default,
      ...(onHedge ? { onHedge } : {}),
    });
  }

  async forget(accountName: string, accountId: string, query: Pick<RouteQuery, 'login' | 'protocol' | 'proxyIp' | 'virtualHost'>): Promise<void> {
    const { login } = query;
    await this.cache?.invalidate({
      accountName,
      ...(accountId ? { accountId } : {}),
      logins: [login.includes('@') ? login : { login, scope: loginNameScopeOf(query) }],
    });
  }
}

function read<T>(value: T | (() => T) | undefined): T | undefined {
  return typeof value === 'function' ? (value as () => T)() : value;
}

/**
 * A frontend's route client as its settings say: the shared cache when
 * `zimbraReverseProxyZmlookupCachingEnabled` (entries living `zimbraReverseProxyCacheEntryTTL`; both
 * read once, at start), the lookup service with `posternRouteLookupRequestTimeout` and
 * `posternRouteLookupHedgeDelay` (read per lookup). A cache failure is a miss, told to `onCacheError`.
 */
export function frontendRouteClient(
  nc: NatsConnection,
  memcached: RouteCacheClient,
  settings: () => EffectiveSettings,
  options: { onCacheError: (op: string, error: Error) => void; onHedge?: () => void },
): RouteClient {
  const s = settings();
  const cache = s.zimbraReverseProxyZmlookupCachingEnabled
    ? new RouteCache(memcached, { ttlSeconds: Math.ceil(s.zimbraReverseProxyCacheEntryTTL / 1000), onError: options.onCacheError })
    : undefined;
  return new RouteClient(nc, cache, undefined, {
    timeoutMs: () => settings().posternRouteLookupRequestTimeout,
    hedgeAfterMs: () => settings().posternRouteLookupHedgeDelay,
    ...(options.onHedge ? { onHedge: options.onHedge } : {}),
  });
}
