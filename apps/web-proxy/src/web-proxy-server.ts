/**
 * The HTTP frontend's request flow, plain TypeScript on `node:http`/`node:http2` and undici
 * (nothing of Nest). Every request, HTTP/1.1, HTTP/2 or an upgrade, passes the same gate:
 *
 *   the Host (strict server names) → the mail mode (redirects) → who it is for
 *   (request-route.ts) → the route (shared cache, else the lookup service) or, for a request that
 *   names no one, a server of the pool by client-address hash
 *
 * and is then carried: a request streamed upstream over a kept-alive HTTP/1.1 connection with the
 * forwarded headers (forwarding.ts) and its answer streamed back; an upgrade on a tunnel of its
 * own (upgrade-tunnel.ts). Neither body is ever held whole. A mailbox server that cannot be
 * reached answers 502, one too slow 504, a lookup that cannot be made 503; only the server's own
 * failures (no connection, reset, no answer in time) count against it in the pool.
 *
 * The listeners live in web-listeners.ts, the carrying of a request to its server in
 * upstream-carrier.ts, the answers and the one record of a request's end (metrics, access line) in
 * replies.ts, the small rules in web-rules.ts, mail-mode.ts and upstream-tls.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RouteInvalidation } from '@postern/contracts';
import { cachedMatcher, unmapIpv4 } from '@postern/ip-address';
import type { VirtualHostNames } from '@postern/directory';
import { proxiedPeer } from '@postern/proxy-protocol';
import type { RouteResolverPort } from '@postern/route-client';
import { Deadline, shortId } from '@postern/service-kit';
import { AccessLog } from './access-log';
import { believedClient, upstreamRequestHeaders } from './forwarding';
import { mailModeAction, type Scheme } from './mail-mode';
import { Replies, type Exchange, type RouteKind } from './replies';
import { requestRoute, type RequestRoute } from './request-route';
import { RouteMemo } from './route-memo';
import { UpstreamCarrier } from './upstream-carrier';
import { openTunnel, type OpenTunnel } from './upgrade-tunnel';
import { UpstreamHealth } from './upstream-health';
import { failureOf, type UpstreamTls } from './upstream-tls';
import { WebListeners, type BoundPorts, type ListenerDeps, type WebRequest, type WebResponse } from './web-listeners';
import { hasBody, hostName, joined, poolMember, upstreamProtocol, wantsLoginPool } from './web-rules';

export type { BoundPorts } from './web-listeners';
export type { RouteKind } from './replies';

export interface WebProxyDeps extends ListenerDeps {
  readonly routes: RouteResolverPort;
  /** The names this proxy serves, for `zimbraReverseProxyStrictServerNameEnabled`. */
  readonly names: VirtualHostNames;
  /** TLS to mailbox servers (`zimbraReverseProxySSLToUpstreamEnabled`): verify their certificates, against `ca` when given. */
  readonly upstreamTls: UpstreamTls;
  /** The main and login pools (web-pools.ts), read per request. */
  readonly pools: { readonly main: readonly string[]; readonly login: readonly string[] };
}

/** A user's route as this request found it: enough to forget it when its server refuses. */
interface UserRoute {
  readonly upstream: string;
  readonly memoKey: string;
  readonly accountName: string;
  readonly accountId: string;
  readonly user: string;
  readonly virtualHost: string | undefined;
}

type UserRequestRoute = Exclude<RequestRoute, { by: 'pool' }>;

/** What the gate decided for a request. */
type Admission =
  | { readonly kind: 'answer'; readonly status: 400 | 503; readonly text: string }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'carry'; readonly upstream: string; readonly found: UserRoute | undefined; readonly route: RequestRoute };

export class WebProxyServer {
  private readonly listeners: WebListeners;
  private readonly carrier: UpstreamCarrier;
  /** The peers whose X-Forwarded-For is believed (`posternWebTrustedProxies`). */
  private readonly trustedPeers = cachedMatcher(() => this.deps.settings().posternWebTrustedProxies);
  private readonly memo: RouteMemo<UserRoute>;
  private readonly health: UpstreamHealth;
  private readonly replies: Replies;
  private readonly accessLog: AccessLog;
  private readonly tunnels = new Set<OpenTunnel>();

  constructor(private readonly deps: WebProxyDeps) {
    this.memo = new RouteMemo(() => deps.settings().posternWebRouteMemo);
    this.health = new UpstreamHealth(
      () => ({ maxFails: deps.settings().zimbraMailProxyMaxFails, failTimeoutMs: deps.settings().zimbraMailProxyReconnectTimeout }),
      (upstream, up, why, first) => {
        deps.metrics.upstreamUp.set({ upstream }, up ? 1 : 0);
        if (!up) deps.logger.warn({ upstream, why }, 'web: pool server out');
        else if (!first) deps.logger.info({ upstream }, 'web: pool server back');
      },
    );
    this.accessLog = new AccessLog(() => deps.settings().posternWebAccessLog, deps.logger);
    this.replies = new Replies(deps.metrics, this.accessLog);
    this.carrier = new UpstreamCarrier({
      upstreamTls: deps.upstreamTls,
      logger: deps.logger,
      replies: this.replies,
      health: this.health,
      serverFailed: (upstream, why) => this.serverFailed(upstream, why),
    });
    this.listeners = new WebListeners(deps, {
      request: (request, response, scheme) => void this.handle(request, response, scheme),
      upgrade: (request, socket, head, scheme) => void this.upgrade(request, socket, head, scheme),
    });
  }

  get ports(): BoundPorts {
    return this.listeners.ports;
  }

  /** Forgets the memoised routes of an account whose routing changed (`postern.route.invalidate.v1`); returns how many. */
  forgetAccount(invalidation: RouteInvalidation): number {
    const names = new Set([...invalidation.accountNames, ...invalidation.logins].map((n) => n.toLowerCase()));
    const id = invalidation.accountId?.toLowerCase();
    return this.memo.deleteWhere(
      (route) =>
        names.has(route.accountName.toLowerCase()) || names.has(route.user.toLowerCase()) || (id !== undefined && route.accountId.toLowerCase() === id),
    );
  }

  /** Opens the listeners and starts the pool's health checks. */
  async listen(ports: Record<Scheme, number>, host: string): Promise<BoundPorts> {
    await this.listeners.listen(ports, host);
    this.health.start(
      () => [...new Set([...this.deps.pools.main, ...this.deps.pools.login])],
      () => this.deps.settings().posternWebHealthCheckInterval,
      () => (this.deps.settings().zimbraReverseProxySSLToUpstreamEnabled ? this.deps.upstreamTls : undefined),
    );
    return this.listeners.ports;
  }

  /** Settings changed: client timeouts apply, listeners move as the ports and the mail mode say, the access log is opened afresh. */
  reopenChanged(ports: Record<Scheme, number>): Promise<void> {
    this.accessLog.reopen();
    return this.listeners.reopenChanged(ports);
  }

  /** Stops accepting, lets requests in flight finish for up to `drainMs` (tunnels are ended then), then closes the upstream pools. */
  async stop(drainMs: number): Promise<void> {
    this.health.stop();
    await this.listeners.stop(drainMs, () => {
      for (const tunnel of this.tunnels) tunnel.close('shutdown');
    });
    await this.carrier.close();
    this.accessLog.reopen();
  }

  private async handle(request: WebRequest, response: WebResponse, scheme: Scheme): Promise<void> {
    const x = this.exchange(request, scheme, request.httpVersionMajor === 2 ? 'h2' : 'h1');
    const admission = await this.admit(x, request);
    if (admission.kind === 'answer') return this.replies.page(response, x, admission.status, admission.text);
    if (admission.kind === 'redirect') return this.replies.redirect(response, x, admission.location);
    const { found, route } = admission;
    const refused = await this.carrier.forward(x, request, response, found !== undefined);
    if (!refused || !found || route.by === 'pool') return;
    // The account's server refused the connection: its route is forgotten, here and in the shared
    // cache, so this request (when it has no body to replay) and the next ones look it up afresh.
    const fresh = await this.forget(found, route, x);
    if (fresh && fresh.upstream !== found.upstream && !hasBody(request)) {
      this.deps.logger.info({ rid: x.rid, from: found.upstream, to: fresh.upstream }, 'web: route changed, request sent to the new server');
      x.upstream = fresh.upstream;
      await this.carrier.forward(x, request, response, false);
      return;
    }
    this.replies.failed(response, x, refused);
  }

  /** An `Upgrade` request (WebSocket): the same gate as any request, then a tunnel of its own (upgrade-tunnel.ts). */
  private async upgrade(request: IncomingMessage, client: Socket, head: Buffer, scheme: Scheme): Promise<void> {
    client.setNoDelay(true);
    client.on('error', () => client.destroy());
    const x = this.exchange(request, scheme, 'ws');
    const admission = await this.admit(x, request);
    if (admission.kind === 'answer') return this.replies.refuseUpgrade(client, x, admission.status, admission.text);
    if (admission.kind === 'redirect') return this.replies.refuseUpgrade(client, x, 302, '', admission.location);
    const s = x.settings;
    const headers = upstreamRequestHeaders(request.rawHeaders, {
      peerIp: x.peerIp,
      proto: scheme,
      localPort: client.localPort ?? 0,
      peerTrusted: x.peerTrusted,
    });
    const tunnel = openTunnel(
      {
        request,
        client,
        head,
        upstream: x.upstream,
        headers,
        tls: s.zimbraReverseProxySSLToUpstreamEnabled,
        connectTimeoutMs: s.zimbraReverseProxyUpstreamConnectTimeout,
        idleMs: s.posternWebTunnelIdleTimeout,
        halfCloseMs: s.posternWebTunnelHalfCloseTimeout,
        rid: x.rid,
      },
      { upstreamTls: this.deps.upstreamTls, logger: this.deps.logger, metrics: this.deps.metrics },
      (end) => {
        this.tunnels.delete(tunnel);
        x.bytesIn = end.bytesIn;
        x.bytesOut = end.bytesOut;
        if (end.outcome === '5xx') this.serverFailed(x.upstream, end.reason);
        this.replies.settle(x, end.status, end.outcome);
      },
    );
    this.tunnels.add(tunnel);
  }

  /** A request as the flow carries it; the peer is the PROXY header's client when a load balancer sent one. */
  private exchange(request: WebRequest, scheme: Scheme, protocol: Exchange['protocol']): Exchange {
    const s = this.deps.settings();
    const peerIp = unmapIpv4(proxiedPeer(request.socket)?.address ?? request.socket.remoteAddress ?? '0.0.0.0');
    const peerTrusted = this.trustedPeers().matches(peerIp);
    return {
      rid: shortId(),
      started: performance.now(),
      scheme,
      protocol,
      peerIp,
      peerTrusted,
      client: believedClient(peerIp, peerTrusted, request.headers['x-forwarded-for']),
      host: hostName(request.headers.host ?? request.headers[':authority']?.toString()),
      method: request.method ?? 'GET',
      target: request.url ?? '/',
      settings: s,
      route: 'pool',
      upstream: 'none',
      bytesIn: 0,
      bytesOut: 0,
    };
  }

  /** The gate every request and upgrade passes: strict server names, the mail mode, then its route. */
  private async admit(x: Exchange, request: WebRequest): Promise<Admission> {
    const s = x.settings;
    if (s.zimbraReverseProxyStrictServerNameEnabled && !(x.host !== undefined && (await this.deps.names.isKnown(x.host)))) {
      x.route = 'unknown-host';
      this.deps.metrics.refused.inc({ reason: 'unknown-host' });
      return { kind: 'answer', status: 400, text: 'This server does not serve that host name.' };
    }
    const cookie = joined(request.headers.cookie);
    const mode = mailModeAction(
      s.zimbraReverseProxyMailMode,
      { scheme: x.scheme, target: x.target, host: x.host, cookie },
      { http: this.ports.http ?? s.zimbraMailProxyPort, https: this.ports.https ?? s.zimbraMailSSLProxyPort },
    );
    if (mode.kind === 'redirect') {
      x.route = 'mail-mode';
      return { kind: 'redirect', location: mode.location };
    }
    const route = requestRoute({ target: x.target, cookie, authorization: request.headers.authorization });
    x.route = route.rule;
    let found: UserRoute | undefined;
    try {
      found = route.by === 'pool' ? undefined : await this.routeOf(route, x);
    } catch (error) {
      this.deps.logger.warn({ rid: x.rid, rule: route.rule, ...failureOf(error) }, 'web: route lookup failed');
      return { kind: 'answer', status: 503, text: 'The mailbox server of this account cannot be found just now. Try again shortly.' };
    }
    let upstream = found?.upstream;
    if (upstream === undefined) [x.route, upstream] = this.poolChoice(x.target, cookie, x.peerIp);
    if (upstream === undefined) return { kind: 'answer', status: 503, text: 'No mailbox server is available for this request.' };
    x.upstream = upstream;
    return { kind: 'carry', upstream, found, route };
  }

  /** The pool server for a request that names no user: the login pool when it wants one and there is one, else the main pool. */
  private poolChoice(target: string, cookie: string | undefined, peerIp: string): [RouteKind, string | undefined] {
    const { main, login } = this.deps.pools;
    const up = (member: string) => this.health.isUp(member);
    if (login.length > 0 && wantsLoginPool(target, cookie)) return ['login-pool', poolMember(login, peerIp, up)];
    return ['pool', poolMember(main, peerIp, up)];
  }

  /** Drops a route its server refused, then looks it up once more (undefined: no route, or no lookup). */
  private async forget(stale: UserRoute, route: UserRequestRoute, x: Exchange): Promise<UserRoute | undefined> {
    this.memo.delete(stale.memoKey);
    this.deps.metrics.routesDropped.inc({ reason: 'refused' });
    try {
      await this.deps.routes.forget(stale.accountName, stale.accountId, {
        login: stale.user,
        protocol: upstreamProtocol(x.settings),
        ...(stale.virtualHost ? { virtualHost: stale.virtualHost } : {}),
      });
      return await this.routeOf(route, x);
    } catch (error) {
      this.deps.logger.warn({ rid: x.rid, ...failureOf(error) }, 'web: stale route not dropped or not looked up again');
      return undefined;
    }
  }

  /** The route of a request that names a user; undefined when the directory knows no such account (the pool serves it). */
  private async routeOf(route: UserRequestRoute, x: Exchange): Promise<UserRoute | undefined> {
    const protocol = upstreamProtocol(x.settings);
    const memoKey = `${route.by}\0${route.user}\0${protocol}\0${x.host ?? ''}\0${x.peerIp}`;
    const memo = this.memo.get(memoKey);
    if (memo) return memo.route;
    const found = await this.deps.routes.resolve(
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
    this.memo.set(memoKey, userRoute);
    return userRoute;
  }

  /** A failure of the server itself: counted against it when it is a pool member (a user's own server is not in the pool's health). */
  private serverFailed(upstream: string, why: string): void {
    const { main, login } = this.deps.pools;
    if (main.includes(upstream) || login.includes(upstream)) this.health.failed(upstream, why);
  }
}
