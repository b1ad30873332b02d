/**
 * The HTTP frontend's data path, plain TypeScript on `node:http` and undici (nothing of Nest):
 *
 *   request → who it is for (request-route.ts) → the route (shared cache, else the lookup
 *   service) or, for a request that names no one, a server of the pool by client-address hash →
 *   the request streamed upstream over a kept-alive connection, with the forwarded headers
 *   (forwarding.ts) → the response streamed back.
 *
 * Neither body is ever held whole. Requests Node's parser refuses (smuggling shapes: both
 * Content-Length and Transfer-Encoding, two Content-Lengths, CR/LF or NUL in the target, obs-fold)
 * are answered 400 before any lookup, oversized headers 431; a client that never finishes its
 * headers is closed after `headersTimeoutMs` (slowloris). A mailbox server that cannot be reached
 * answers 502, one too slow 504, a lookup that cannot be made 503.
 *
 * Its length is one thing, the life of a request from the listener to the last byte of the answer
 * (upgrades routed here, tunnelled in upgrade-tunnel.ts). The listeners are opened and moved here
 * too (`listen`, `reopenChanged`) because each is wired to this request path (handler, refusals,
 * upgrades, PROXY headers) and nothing else; the rules it applies live beside it:
 * request-route.ts (who a request is for), mail-mode.ts, forwarding.ts (headers), web-rules.ts
 * (pool choice, timeouts, pages).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { EffectiveSettings } from '@postern/config';
import type { RouteInvalidation } from '@postern/contracts';
import { IpMatcher, unmapIpv4 } from '@postern/ip-address';
import type { VirtualHostCertificates, VirtualHostNames } from '@postern/directory';
import type { RouteResolverPort } from '@postern/route-client';
import { Deadline, shortId, type Logger } from '@postern/service-kit';
import { EventEmitter } from 'node:events';
import { Pool } from 'undici';
import { clientResponseHeaders, upstreamRequestHeaders } from './forwarding';
import {
  addedHeaders,
  hasBody,
  hostName,
  isConnectFailure,
  joined,
  poolMember,
  readTimeoutOf,
  refuseUpgrade,
  statusClass,
  upstreamFailureStatus,
  upstreamProtocol,
  wantsLoginPool,
} from './web-rules';
import { listens, mailModeAction, type Scheme } from './mail-mode';
import { requestRoute, type RequestRoute } from './request-route';
import { RouteMemo } from './route-memo';
import { openTunnel } from './upgrade-tunnel';
import { proxiedPeer, requireProxyHeaders } from '@postern/proxy-protocol';
import { UpstreamHealth } from './upstream-health';
import type { WebProxyMetrics } from './web-proxy.metrics';

/** Longest a client may take to send its request headers (slowloris). */
const HEADERS_TIMEOUT_MS = 20_000;
/** The largest request head accepted (Node's default); larger: 431. */
const MAX_HEADER_BYTES = 16 * 1024;
/** How long a load balancer has to send its PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 5_000;
/** Kept-alive connections per mailbox server. */
const CONNECTIONS_PER_UPSTREAM = 64;

export interface WebProxyDeps {
  readonly settings: () => EffectiveSettings;
  readonly routes: RouteResolverPort;
  readonly metrics: WebProxyMetrics;
  readonly logger: Logger;
  /** The HTTPS side: the default certificate (PEM) and the per-virtual-host ones; without it, no HTTPS listener. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly certificates: VirtualHostCertificates };
  /** The names this proxy serves, for `zimbraReverseProxyStrictServerNameEnabled`. */
  readonly names: VirtualHostNames;
  /** TLS to mailbox servers (`zimbraReverseProxySSLToUpstreamEnabled`): verify their certificates, against `ca` when given. */
  readonly upstreamTls: { readonly verify: boolean; readonly ca?: string };
  /** The main and login pools (web-pools.ts), read per request. */
  readonly pools: { readonly main: readonly string[]; readonly login: readonly string[] };
}

/** The listeners a start opened, by scheme (the port actually bound). */
export type BoundPorts = Partial<Record<Scheme, number>>;

/** The route kind a request was sent by, as metrics label it. */
export type RouteKind = RequestRoute['rule'] | 'pool' | 'login-pool' | 'mail-mode';

/** A user's route as this request found it: enough to forget it when its server refuses. */
interface UserRoute {
  readonly upstream: string;
  readonly memoKey: string;
  readonly accountName: string;
  readonly accountId: string;
  readonly user: string;
  readonly virtualHost: string | undefined;
}

export class WebProxyServer {
  /** The listeners open now, by scheme, with the port each was asked for. */
  private readonly open = new Map<Scheme, { readonly server: Server; readonly port: number }>();
  /** Listeners closed by a settings change: their connections finish, or are closed on stop. */
  private readonly retired: Server[] = [];
  private host = '0.0.0.0';
  private changing: Promise<void> = Promise.resolve();
  private readonly pools = new Map<string, Pool>();
  private trusted: { list: readonly string[]; matcher: IpMatcher } = { list: [], matcher: new IpMatcher([]) };
  private balancerList: { list: readonly string[]; matcher: IpMatcher } = { list: [], matcher: new IpMatcher([]) };
  readonly ports: BoundPorts = {};
  private readonly memo: RouteMemo<UserRoute>;
  private readonly health: UpstreamHealth;

  constructor(private readonly deps: WebProxyDeps) {
    this.memo = new RouteMemo(() => deps.settings().posternWebRouteMemo);
    this.health = new UpstreamHealth(
      () => ({ maxFails: deps.settings().zimbraMailProxyMaxFails, failTimeoutMs: deps.settings().zimbraMailProxyReconnectTimeout }),
      (upstream, up) => {
        deps.metrics.upstreamUp.set({ upstream }, up ? 1 : 0);
        deps.logger.warn({ upstream, up }, up ? 'web: pool server back' : 'web: pool server out');
      },
    );
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

  /**
   * Opens the listeners the mail mode has (`zimbraReverseProxyMailMode`): HTTP on `ports.http`,
   * HTTPS on `ports.https` when there is a certificate (0: any free port).
   */
  async listen(ports: { http: number; https: number }, host: string): Promise<BoundPorts> {
    this.host = host;
    for (const scheme of this.wantedSchemes()) this.open.set(scheme, await this.openListener(scheme, ports[scheme]));
    this.health.start(
      () => [...new Set([...this.deps.pools.main, ...this.deps.pools.login])],
      () => this.deps.settings().posternWebHealthCheckInterval,
    );
    return this.ports;
  }

  /**
   * Re-opens what the settings changed, and only that: a listener the mail mode adds or drops, or
   * one moved to another port. Requests on a closed listener finish; a port that cannot be bound is
   * logged and the listener stays where it was.
   */
  reopenChanged(ports: { http: number; https: number }): Promise<void> {
    this.changing = this.changing.then(async () => {
      const wanted = new Set(this.wantedSchemes());
      for (const [scheme, current] of [...this.open]) {
        if (wanted.has(scheme) && current.port === ports[scheme]) continue;
        if (wanted.has(scheme)) {
          try {
            this.open.set(scheme, await this.openListener(scheme, ports[scheme]));
          } catch (error) {
            this.deps.logger.error({ listener: scheme, port: ports[scheme], err: error }, 'web: cannot move the listener; it stays on its port');
            continue;
          }
        } else {
          this.open.delete(scheme);
          delete this.ports[scheme];
        }
        const retired = current.server;
        this.retired.push(retired);
        // Closed once its last connection is: then it is no longer waited for on stop.
        retired.close(() => this.retired.splice(this.retired.indexOf(retired), 1));
        retired.closeIdleConnections();
        this.deps.logger.info({ listener: scheme, port: current.port }, 'web: listener closed (settings changed)');
      }
      for (const scheme of wanted) {
        if (this.open.has(scheme)) continue;
        try {
          this.open.set(scheme, await this.openListener(scheme, ports[scheme]));
        } catch (error) {
          this.deps.logger.error({ listener: scheme, port: ports[scheme], err: error }, 'web: cannot open the listener');
        }
      }
    });
    return this.changing;
  }

  /** The listeners the mail mode has; HTTPS only with a certificate. */
  private wantedSchemes(): Scheme[] {
    const mode = this.deps.settings().zimbraReverseProxyMailMode;
    const schemes: Scheme[] = [];
    if (listens(mode, 'http')) schemes.push('http');
    if (listens(mode, 'https') && this.deps.tls) schemes.push('https');
    return schemes;
  }

  private async openListener(scheme: Scheme, port: number): Promise<{ server: Server; port: number }> {
    const options = { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0, noDelay: true };
    const handler: RequestListener = (request, response) => void this.handle(request, response, scheme);
    const tls = this.deps.tls;
    const server =
      scheme === 'https' && tls
        ? createTlsServer(
            {
              ...options,
              cert: tls.cert,
              key: tls.key,
              SNICallback: (name, done) => void tls.certificates.contextFor(name).then((context) => done(null, context)),
            },
            handler,
          )
        : createServer(options, handler);
    requireProxyHeaders(server, {
      trusted: (peer) => this.balancers().matches(unmapIpv4(peer)),
      timeoutMs: PROXY_HEADER_TIMEOUT_MS,
      onRefused: (why, detail, peer) => {
        this.deps.metrics.refused.inc({ reason: `proxy-header-${why}` });
        if (why !== 'closed') this.deps.logger.warn({ listener: scheme, peer, why }, `web: PROXY header refused: ${detail}`);
      },
      // node:http reads a flowing socket; TLS reads the paused one itself.
      resume: scheme === 'http',
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => this.refuse(error, socket));
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => void this.upgrade(request, socket, head, scheme));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ports[scheme] = (server.address() as AddressInfo).port;
    this.deps.logger.info({ listener: scheme, host: this.host, port: this.ports[scheme] }, 'web: listening');
    return { server, port };
  }

  /** Stops accepting, lets requests in flight finish for up to `drainMs`, then closes the upstream pools. */
  async stop(drainMs: number): Promise<void> {
    this.health.stop();
    await this.changing;
    const servers = [...[...this.open.values()].map((l) => l.server), ...this.retired];
    const closed = servers.map(
      (server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : server.once('close', () => resolve()))),
    );
    for (const server of servers) server.closeIdleConnections();
    const timer = setTimeout(() => servers.forEach((server) => server.closeAllConnections()), drainMs);
    await Promise.all(closed);
    clearTimeout(timer);
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse, scheme: Scheme): Promise<void> {
    const started = performance.now();
    const rid = shortId();
    const s = this.deps.settings();
    const socket = request.socket;
    const peerIp = clientAddress(socket);
    const host = hostName(request.headers.host);
    if (s.zimbraReverseProxyStrictServerNameEnabled && !(host !== undefined && (await this.deps.names.isKnown(host)))) {
      this.deps.metrics.refused.inc({ reason: 'unknown-host' });
      return this.answer(response, 400, 'This server does not serve that host name.', 'pool', 'none', started);
    }
    const mode = mailModeAction(
      s.zimbraReverseProxyMailMode,
      { scheme, target: request.url ?? '/', host, cookie: joined(request.headers.cookie) },
      { http: this.ports.http ?? s.zimbraMailProxyPort, https: this.ports.https ?? s.zimbraMailSSLProxyPort },
    );
    if (mode.kind === 'redirect') {
      response.writeHead(302, { Location: mode.location, 'Content-Length': 0, 'Cache-Control': 'no-store' });
      response.end();
      this.deps.metrics.requests.inc({ route: 'mail-mode', status: '3xx', upstream: 'none' });
      return;
    }
    const target = request.url ?? '/';
    const cookie = joined(request.headers.cookie);
    const route = requestRoute({ target, cookie, authorization: request.headers.authorization });
    let kind: RouteKind = route.rule;
    let found: UserRoute | undefined;
    try {
      found = route.by === 'pool' ? undefined : await this.routeOf(route, peerIp, host, rid, s);
    } catch (error) {
      this.deps.logger.warn({ rid, err: error, rule: route.rule }, 'web: route lookup failed');
      return this.answer(response, 503, 'The mailbox server of this account cannot be found just now. Try again shortly.', kind, 'none', started);
    }
    let upstream = found?.upstream;
    if (upstream === undefined) [kind, upstream] = this.poolChoice(target, cookie, peerIp);
    if (upstream === undefined) return this.answer(response, 503, 'No mailbox server is available for this request.', kind, 'none', started);
    const refused = await this.forward(request, response, upstream, peerIp, scheme, kind, started, s, rid, found !== undefined);
    if (!refused || !found || route.by === 'pool') return;
    // The account's server refused the connection: its route is forgotten, here and in the shared
    // cache, so this request (when it has no body to replay) and the next ones look it up afresh.
    const fresh = await this.forget(found, route, peerIp, rid, s);
    if (fresh && fresh.upstream !== found.upstream && !hasBody(request)) {
      this.deps.logger.info({ rid, from: found.upstream, to: fresh.upstream }, 'web: route changed, request sent to the new server');
      await this.forward(request, response, fresh.upstream, peerIp, scheme, kind, started, s, rid, false);
      return;
    }
    this.failed(response, refused, found.upstream, kind, started, s);
  }

  /** The pool server for a request that names no user: the login pool when it wants one and there is one, else the main pool. */
  private poolChoice(target: string, cookie: string | undefined, peerIp: string): [RouteKind, string | undefined] {
    const { main, login } = this.deps.pools;
    const up = (member: string) => this.health.isUp(member);
    if (login.length > 0 && wantsLoginPool(target, cookie)) return ['login-pool', poolMember(login, peerIp, up)];
    return ['pool', poolMember(main, peerIp, up)];
  }

  /** Drops a route its server refused, then looks it up once more (undefined: no route, or no lookup). */
  private async forget(
    stale: UserRoute,
    route: Exclude<RequestRoute, { by: 'pool' }>,
    peerIp: string,
    rid: string,
    s: EffectiveSettings,
  ): Promise<UserRoute | undefined> {
    this.memo.delete(stale.memoKey);
    this.deps.metrics.routesDropped.inc({ reason: 'refused' });
    try {
      await this.deps.routes.forget(stale.accountName, stale.accountId, {
        login: stale.user,
        protocol: upstreamProtocol(s),
        ...(stale.virtualHost ? { virtualHost: stale.virtualHost } : {}),
      });
      return await this.routeOf(route, peerIp, stale.virtualHost, rid, s);
    } catch (error) {
      this.deps.logger.warn({ rid, err: error }, 'web: stale route not dropped or not looked up again');
      return undefined;
    }
  }

  /** The route of a request that names a user; undefined when the directory knows no such account (the pool serves it). */
  private async routeOf(
    route: Exclude<RequestRoute, { by: 'pool' }>,
    clientIp: string,
    host: string | undefined,
    rid: string,
    s: EffectiveSettings,
  ): Promise<UserRoute | undefined> {
    const protocol = upstreamProtocol(s);
    const memoKey = `${route.by}\0${route.user}\0${protocol}\0${host ?? ''}\0${clientIp}`;
    const memo = this.memo.get(memoKey);
    if (memo) return memo.route;
    const found = await this.deps.routes.resolve(
      { by: route.by, login: route.user, protocol, clientIp, requestId: rid, ...(host ? { virtualHost: host } : {}) },
      new Deadline(s.posternRouteLookupRequestTimeout),
    );
    const userRoute: UserRoute | undefined =
      found.outcome === 'ROUTE'
        ? {
            upstream: `${found.route.host}:${found.route.port}`,
            memoKey,
            accountName: found.route.accountName,
            accountId: found.route.accountId,
            user: route.user,
            virtualHost: host,
          }
        : undefined;
    this.memo.set(memoKey, userRoute);
    return userRoute;
  }

  private async forward(
    request: IncomingMessage,
    response: ServerResponse,
    upstream: string,
    peerIp: string,
    scheme: Scheme,
    kind: RouteKind,
    started: number,
    s: EffectiveSettings,
    rid: string,
    userRouted: boolean,
  ): Promise<502 | 504 | undefined> {
    // An emitter, not an AbortController: undici takes either, and this one costs no DOMException per request.
    const abort = new EventEmitter();
    let aborted = false;
    const onClientGone = () => {
      if (response.writableFinished) return;
      aborted = true;
      abort.emit('abort');
    };
    response.once('close', onClientGone);
    const headers = upstreamRequestHeaders(request.rawHeaders, {
      peerIp,
      proto: scheme,
      localPort: request.socket.localPort ?? 0,
      peerTrusted: this.trustedPeers(s).matches(peerIp),
    });
    const readTimeout = readTimeoutOf(kind, request.url ?? '/', s);
    try {
      const answer = await this.pool(upstream, s).request({
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        headers: headers.flat(),
        body: hasBody(request) ? request : null,
        signal: abort,
        headersTimeout: readTimeout,
        bodyTimeout: readTimeout,
      });
      response.writeHead(answer.statusCode, { ...clientResponseHeaders(answer.headers), ...addedHeaders(s) });
      await relay(answer.body, response);
      this.health.succeeded(upstream);
      this.deps.metrics.requests.inc({ route: kind, status: statusClass(answer.statusCode), upstream });
      this.deps.metrics.upstreamSeconds.observe({ route: kind }, (performance.now() - started) / 1000);
    } catch (error) {
      if (aborted) {
        this.deps.metrics.requests.inc({ route: kind, status: 'aborted', upstream });
        return undefined;
      }
      const status = upstreamFailureStatus(error);
      this.health.failed(upstream);
      this.deps.logger.warn({ rid, upstream, err: error, status }, 'web: upstream failed');
      // A user's server that refused the connection: the caller drops the route and may try again.
      if (userRouted && isConnectFailure(error) && !response.headersSent) return status;
      this.failed(response, status, upstream, kind, started, s);
    } finally {
      response.off('close', onClientGone);
    }
    return undefined;
  }

  /** Tells the client its request could not be carried: the error handler URL or a page of ours (or a cut, once the answer began). */
  private failed(response: ServerResponse, status: 502 | 504, upstream: string, kind: RouteKind, started: number, s: EffectiveSettings): void {
    if (response.headersSent) response.destroy();
    else if (s.zimbraReverseProxyErrorHandlerURL !== '') this.errorRedirect(response, s.zimbraReverseProxyErrorHandlerURL, status, upstream, kind, started);
    else
      this.answer(
        response,
        status,
        status === 504 ? 'The mailbox server did not answer in time.' : 'The mailbox server cannot be reached.',
        kind,
        upstream,
        started,
      );
  }

  /** A WebSocket (or any `Upgrade`) request: routed like any other, then carried on a tunnel of its own (upgrade-tunnel.ts). */
  private async upgrade(request: IncomingMessage, client: Socket, head: Buffer, scheme: Scheme): Promise<void> {
    const started = performance.now();
    const s = this.deps.settings();
    const peerIp = clientAddress(client);
    client.setNoDelay(true);
    client.on('error', () => client.destroy());
    const target = request.url ?? '/';
    const cookie = joined(request.headers.cookie);
    const route = requestRoute({ target, cookie, authorization: request.headers.authorization });
    let kind: RouteKind = route.rule;
    let upstream: string | undefined;
    try {
      upstream = route.by === 'pool' ? undefined : (await this.routeOf(route, peerIp, hostName(request.headers.host), shortId(), s))?.upstream;
    } catch {
      return refuseUpgrade(client, '503 Service Unavailable');
    }
    if (upstream === undefined) [kind, upstream] = this.poolChoice(target, cookie, peerIp);
    if (upstream === undefined) return refuseUpgrade(client, '503 Service Unavailable');
    const headers = upstreamRequestHeaders(request.rawHeaders, {
      peerIp,
      proto: scheme,
      localPort: client.localPort ?? 0,
      peerTrusted: this.trustedPeers(s).matches(peerIp),
    });
    const finalKind = kind;
    openTunnel(
      { request, client, head, upstream, headers, tls: s.zimbraReverseProxySSLToUpstreamEnabled, connectTimeoutMs: s.zimbraReverseProxyUpstreamConnectTimeout },
      { upstreamTls: this.deps.upstreamTls, logger: this.deps.logger, metrics: this.deps.metrics },
      (status) => {
        this.deps.metrics.requests.inc({ route: finalKind, status, upstream });
        this.deps.metrics.upstreamSeconds.observe({ route: finalKind }, (performance.now() - started) / 1000);
      },
    );
  }

  /** The kept-alive connections to `upstream`, over TLS when `zimbraReverseProxySSLToUpstreamEnabled`. */
  private pool(upstream: string, s: EffectiveSettings): Pool {
    const origin = `${s.zimbraReverseProxySSLToUpstreamEnabled ? 'https' : 'http'}://${upstream}`;
    let pool = this.pools.get(origin);
    if (!pool) {
      const { verify, ca } = this.deps.upstreamTls;
      pool = new Pool(origin, {
        connections: CONNECTIONS_PER_UPSTREAM,
        connectTimeout: s.zimbraReverseProxyUpstreamConnectTimeout,
        keepAliveTimeout: 30_000,
        connect: { rejectUnauthorized: verify, ...(ca ? { ca } : {}) },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** The load balancers that owe a PROXY header (`posternProxyProtocolTrustedNetworks`). */
  private balancers(): IpMatcher {
    const list = this.deps.settings().posternProxyProtocolTrustedNetworks;
    if (this.balancerList.list !== list) this.balancerList = { list, matcher: new IpMatcher(list) };
    return this.balancerList.matcher;
  }

  private trustedPeers(s: EffectiveSettings): IpMatcher {
    if (this.trusted.list !== s.posternWebTrustedProxies)
      this.trusted = { list: s.posternWebTrustedProxies, matcher: new IpMatcher(s.posternWebTrustedProxies) };
    return this.trusted.matcher;
  }

  /** `zimbraReverseProxyErrorHandlerURL`: the client is sent there with the error and the server. */
  private errorRedirect(response: ServerResponse, url: string, status: number, upstream: string, kind: RouteKind, started: number): void {
    const location = `${url}${url.includes('?') ? '&' : '?'}err=${status}&up=${encodeURIComponent(upstream)}`;
    response.writeHead(302, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-store', ...addedHeaders(this.deps.settings()) });
    response.end();
    this.deps.metrics.requests.inc({ route: kind, status: statusClass(status), upstream });
    this.deps.metrics.upstreamSeconds.observe({ route: kind }, (performance.now() - started) / 1000);
  }

  /** A small error page of our own. */
  private answer(response: ServerResponse, status: number, text: string, kind: RouteKind, upstream: string, started: number): void {
    const body = `<!doctype html><title>${status}</title><p>${text}</p>\n`;
    response.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      ...addedHeaders(this.deps.settings()),
    });
    response.end(body);
    this.deps.metrics.requests.inc({ route: kind, status: statusClass(status), upstream });
    this.deps.metrics.upstreamSeconds.observe({ route: kind }, (performance.now() - started) / 1000);
  }

  /** A request Node's parser refused: 431 for a head too large, 400 for anything malformed. */
  private refuse(error: NodeJS.ErrnoException, socket: Socket): void {
    const code = error.code ?? '';
    this.deps.metrics.refused.inc({
      reason: code === 'HPE_HEADER_OVERFLOW' ? 'header-overflow' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : 'malformed',
    });
    if (!socket.writable || code === 'ECONNRESET') return void socket.destroy();
    const status =
      code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
}

/** The client of a connection: the one a load balancer's PROXY header named, else the peer. */
function clientAddress(socket: Socket): string {
  return unmapIpv4(proxiedPeer(socket)?.address ?? socket.remoteAddress ?? '0.0.0.0');
}

/**
 * The response body from the mailbox server to the client, with backpressure: `pipe()` and a
 * promise of its end, not `stream.pipeline`, which costs an AbortController and its DOMException
 * per request. A client that leaves is seen by `forward` (its abort destroys the body, which
 * rejects here); a body that fails rejects, and the caller cuts the answer.
 */
function relay(body: Readable, response: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      body.unpipe(response);
      reject(error);
    };
    // A client gone before the end, after the body was all read: nothing else would settle this.
    const gone = () => fail(new Error('client closed the connection'));
    body.once('error', fail);
    response.once('close', gone);
    response.once('finish', () => {
      body.off('error', fail);
      response.off('close', gone);
      resolve();
    });
    body.pipe(response);
  });
}
