/**
 * How a frontend finds a user's mailbox server: the shared cache first (no round trip to a
 * service), the route lookup service over NATS on a miss. Both within the login's deadline.
 *
 * A cached entry is used only when it is complete: alias → account → route. An unqualified login
 * or one whose alias is not cached goes to the lookup service, which qualifies it and fills the
 * cache for next time.
 */
import { ErrorCode, PosternError, RouteLookupContract, type RouteLookupRequest, type RouteLookupResult, type RouteProtocol } from '@postern/contracts';
import { loginContextOf, type RouteCache } from '@postern/route-cache';
import { requestReply, type Deadline, type NatsConnection } from '@postern/service-kit';
import { isIpAllowed } from '@postern/ip-address';

export interface RouteQuery {
  readonly login: string;
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

export class RouteClient implements RouteResolverPort {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cache: RouteCache | undefined,
    private readonly onCache?: (result: 'hit' | 'miss') => void,
  ) {}

  async resolve(query: RouteQuery, deadline: Deadline): Promise<RouteLookupResult> {
    const context = loginContextOf(query);
    if (this.cache) {
      const cached = await deadline.run('route cache', this.cache.routeForLogin(query.protocol, query.login, context)).catch(() => null);
      this.onCache?.(cached ? 'hit' : 'miss');
      if (cached && isIpAllowed(query.clientIp, cached.allowedIps)) {
        const { host, port, accountName, accountId, upstreamUser, external } = cached;
        return { outcome: 'ROUTE', route: { host, port, accountName, accountId, upstreamUser, external }, source: 'cache' };
      }
      // A cached route whose domain refuses this client: the lookup service gives the refusal with its wait.
    }
    const remaining = deadline.remaining();
    if (remaining < 1) throw new PosternError(ErrorCode.Timeout, 'route lookup: deadline passed');
    const request: RouteLookupRequest = {
      by: 'name',
      user: query.login,
      protocol: query.protocol,
      clientIp: query.clientIp,
      ...(query.proxyIp ? { proxyIp: query.proxyIp } : {}),
      ...(query.virtualHost ? { virtualHost: query.virtualHost } : {}),
      ...(query.requestId ? { requestId: query.requestId } : {}),
      deadlineMs: Math.min(remaining, 600_000),
    };
    return requestReply(this.nc, RouteLookupContract, request, remaining);
  }

  async forget(accountName: string, accountId: string, query: Pick<RouteQuery, 'login' | 'protocol' | 'proxyIp' | 'virtualHost'>): Promise<void> {
    const { login } = query;
    await this.cache?.invalidate({ accountName, ...(accountId ? { accountId } : {}), logins: [login.includes('@') ? login : { login, context: loginContextOf(query) }] });
  }


}
