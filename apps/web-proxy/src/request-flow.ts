/**
 * One web request, as a plain function over ports (route resolver, virtual host names, the pools'
 * health, the carrier, the replies), shaped as the mail side's `runLogin`:
 *
 *   the Host (strict server names) → the mail mode (redirects) → who it is for (request-route.ts)
 *   → the route (memo, shared cache, else the lookup service) or, for a request that names no one,
 *   a server of the pool by client-address hash → carried (upstream-carrier.ts)
 *
 * A user's server that refuses the connection has its route forgotten, here and in the shared
 * cache; the request is sent to the route found afresh when it has no body to replay. A lookup
 * that cannot be made answers 503, a server that cannot be reached 502, one too slow 504.
 * Upgrades pass the same gate ({@link admit}) and are then tunnelled (web-proxy-server.ts).
 */
import type { RouteResolverPort } from '@postern/route-client';
import { Deadline, type Logger } from '@postern/service-kit';
import { mailModeAction } from './mail-mode';
import type { Replies } from './replies';
import { requestRoute, type RequestRoute } from './request-route';
import type { RouteMemo } from './route-memo';
import type { Refused, UpstreamCarrier } from './upstream-carrier';
import { failureOf } from './upstream-tls';
import type { Exchange, HttpExchange, RouteKind } from './web-exchange';
import type { BoundPorts } from './web-listeners';
import type { WebProxyMetrics } from './web-proxy.metrics';
import { hasBody, joined, poolMember, upstreamProtocol, wantsLoginPool } from './web-rules';

/** A user's route as this request found it: enough to forget it when its server refuses. */
export interface UserRoute {
  readonly upstream: string;
  readonly memoKey: string;
  readonly accountName: string;
  readonly accountId: string;
  readonly user: string;
  readonly virtualHost: string | undefined;
}

type UserRequestRoute = Exclude<RequestRoute, { by: 'pool' }>;

/** What the gate decided for a request. */
export type Admission =
  | { readonly kind: 'answer'; readonly status: 400 | 503; readonly text: string }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'carry'; readonly upstream: string; readonly found: UserRoute | undefined; readonly route: RequestRoute };

/** What the gate talks to. */
export interface GatePorts {
  readonly routes: RouteResolverPort;
  /** The names this proxy serves, for `zimbraReverseProxyStrictServerNameEnabled`. */
  readonly names: { isKnown(name: string): Promise<boolean> | boolean };
  /** Routes found, for `posternWebRouteMemo`. */
  readonly memo: RouteMemo<UserRoute>;
  /** The main and login pools (web-pools.ts), read per request. */
  readonly pools: { readonly main: readonly string[]; readonly login: readonly string[] };
  /** Whether a pool server is in (upstream-health.ts). */
  readonly isUp: (member: string) => boolean;
  /** The ports the listeners are bound to now: the mail mode's redirects name them. */
  readonly boundPorts: () => BoundPorts;
  readonly metrics: Pick<WebProxyMetrics, 'refused' | 'routesDropped'>;
  readonly logger: Logger;
}

/** What a request talks to: the gate's ports, and the carrier and replies. */
export interface RequestPorts extends GatePorts {
  readonly carrier: Pick<UpstreamCarrier, 'forward'>;
  readonly replies: Pick<Replies, 'page' | 'redirect' | 'failed'>;
}

/**
 * Serves one request: answered here, redirected, or carried to its mailbox server. Settled (metrics,
 * access line) whichever way it ends. A request whose route is known (memoised, or the pool's) is
 * served in the same turn: no promise is made for it.
 */
export function runRequest(x: HttpExchange, ports: RequestPorts): void {
  const admission = admit(x, ports);
  if (admission instanceof Promise) void admission.then((later) => serve(x, later, ports));
  else serve(x, admission, ports);
}

function serve(x: HttpExchange, admission: Admission, ports: RequestPorts): void {
  if (admission.kind === 'answer') return ports.replies.page(x, admission.status, admission.text);
  if (admission.kind === 'redirect') return ports.replies.redirect(x, admission.location);
  const { found, route } = admission;
  const refused: Refused | undefined = found && route.by !== 'pool' ? (status) => void afterRefusal(x, found, route, status, ports) : undefined;
  ports.carrier.forward(x, refused);
}

/**
 * The account's server refused the connection: its route is forgotten, here and in the shared
 * cache, so this request (when it has no body to replay) and the next ones look it up afresh.
 */
async function afterRefusal(x: HttpExchange, stale: UserRoute, route: UserRequestRoute, status: 502 | 504, ports: RequestPorts): Promise<void> {
  const fresh = await forget(stale, route, x, ports);
  if (fresh && fresh.upstream !== stale.upstream && !hasBody(x.request)) {
    ports.logger.info({ rid: x.rid, from: stale.upstream, to: fresh.upstream }, 'web: route changed, request sent to the new server');
    x.upstream = fresh.upstream;
    return ports.carrier.forward(x);
  }
  ports.replies.failed(x, status);
}

/**
 * The gate every request and upgrade passes: strict server names, the mail mode, then its route.
 * Decided at once when nothing has to be asked (a memoised route, a pool's request); a promise
 * only when a name or a route must be looked up.
 */
export function admit(x: Exchange, ports: GatePorts): Admission | Promise<Admission> {
  if (!x.settings.zimbraReverseProxyStrictServerNameEnabled) return admitKnownHost(x, ports);
  if (x.host === undefined) return unknownHost(x, ports);
  const known = ports.names.isKnown(x.host);
  if (known instanceof Promise) return known.then((yes) => (yes ? admitKnownHost(x, ports) : unknownHost(x, ports)));
  return known ? admitKnownHost(x, ports) : unknownHost(x, ports);
}

function unknownHost(x: Exchange, ports: GatePorts): Admission {
  x.route = 'unknown-host';
  ports.metrics.refused.inc({ reason: 'unknown-host' });
  return { kind: 'answer', status: 400, text: 'This server does not serve that host name.' };
}

/** The mail mode, then the route: the memo's or the pool's at once, else looked up. */
function admitKnownHost(x: Exchange, ports: GatePorts): Admission | Promise<Admission> {
  const s = x.settings;
  const headers = x.request.headers;
  const cookie = joined(headers.cookie);
  const bound = ports.boundPorts();
  const mode = mailModeAction(
    s.zimbraReverseProxyMailMode,
    { scheme: x.scheme, target: x.target, host: x.host, cookie },
    { http: bound.http ?? s.zimbraMailProxyPort, https: bound.https ?? s.zimbraMailSSLProxyPort },
  );
  if (mode.kind === 'redirect') {
    x.route = 'mail-mode';
    return { kind: 'redirect', location: mode.location };
  }
  const route = requestRoute({ target: x.target, cookie, authorization: headers.authorization });
  x.route = route.rule;
  if (route.by === 'pool') return carry(x, undefined, route, cookie, ports);
  const memo = memoised(route, x, ports);
  if (memo) return carry(x, memo.route, route, cookie, ports);
  return routeOf(route, x, ports).then(
    (found) => carry(x, found, route, cookie, ports),
    (error: unknown): Admission => {
      ports.logger.warn({ rid: x.rid, rule: route.rule, ...failureOf(error) }, 'web: route lookup failed');
      return { kind: 'answer', status: 503, text: 'The mailbox server of this account cannot be found just now. Try again shortly.' };
    },
  );
}

/** The request goes to its user's server when one was found, else to a pool's. */
function carry(x: Exchange, found: UserRoute | undefined, route: RequestRoute, cookie: string | undefined, ports: GatePorts): Admission {
  let upstream = found?.upstream;
  if (upstream === undefined) [x.route, upstream] = poolChoice(x.target, cookie, x.peerIp, ports);
  if (upstream === undefined) return { kind: 'answer', status: 503, text: 'No mailbox server is available for this request.' };
  x.upstream = upstream;
  return { kind: 'carry', upstream, found, route };
}

/** The pool server for a request that names no user: the login pool when it wants one and there is one, else the main pool. */
function poolChoice(target: string, cookie: string | undefined, peerIp: string, ports: GatePorts): [RouteKind, string | undefined] {
  const { main, login } = ports.pools;
  if (login.length > 0 && wantsLoginPool(target, cookie)) return ['login-pool', poolMember(login, peerIp, ports.isUp)];
  return ['pool', poolMember(main, peerIp, ports.isUp)];
}

/** Drops a route its server refused, then looks it up once more (undefined: no route, or no lookup). */
async function forget(stale: UserRoute, route: UserRequestRoute, x: Exchange, ports: GatePorts): Promise<UserRoute | undefined> {
  ports.memo.delete(stale.memoKey);
  ports.metrics.routesDropped.inc({ reason: 'refused' });
  try {
    await ports.routes.forget(stale.accountName, stale.accountId, {
      login: stale.user,
      protocol: upstreamProtocol(x.settings),
      ...(stale.virtualHost ? { virtualHost: stale.virtualHost } : {}),
    });
    return await routeOf(route, x, ports);
  } catch (error) {
    ports.logger.warn({ rid: x.rid, ...failureOf(error) }, 'web: stale route not dropped or not looked up again');
    return undefined;
  }
}

function memoKeyOf(route: UserRequestRoute, x: Exchange): string {
  return `${route.by}\0${route.user}\0${upstreamProtocol(x.settings)}\0${x.host ?? ''}\0${x.peerIp}`;
}

/** The memo of a route found before (`{ route: undefined }`: no such account), when fresh. */
function memoised(route: UserRequestRoute, x: Exchange, ports: GatePorts): { route: UserRoute | undefined } | undefined {
  return ports.memo.get(memoKeyOf(route, x));
}

/** The route of a request that names a user; undefined when the directory knows no such account (the pool serves it). */
async function routeOf(route: UserRequestRoute, x: Exchange, ports: GatePorts): Promise<UserRoute | undefined> {
  const protocol = upstreamProtocol(x.settings);
  const memoKey = memoKeyOf(route, x);
  const memo = ports.memo.get(memoKey);
  if (memo) return memo.route;
  const found = await ports.routes.resolve(
    { by: route.by, login: route.user, protocol, clientIp: x.peerIp, requestId: x.rid, ...(x.host ? { virtualHost: x.host } : {}) },
    new Deadline(x.settings.posternRouteLookupRequestTimeout),
  );
  const userRoute: UserRoute | undefined =
    found.outcome === 'ROUTE'
      ? {
          upstream: `${found.route.host}:${found.route.port}`,
          memoKey,
          accountName: found.route.accountName,
          accountId: found.route.accountId,
          user: route.user,
          virtualHost: x.host,
        }
      : undefined;
  ports.memo.set(memoKey, userRoute);
  return userRoute;
}
