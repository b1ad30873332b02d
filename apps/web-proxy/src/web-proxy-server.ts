/**
 * The HTTP frontend, plain TypeScript on `node:http`/`node:http2` and undici (nothing of Nest): it
 * wires the listeners (web-listeners.ts) to the request flow (request-flow.ts), which passes every
 * request and upgrade through the same gate, the carrier (upstream-carrier.ts), which streams a
 * request to its mailbox server over a kept-alive connection and the answer back, the tunnels of
 * upgrades (upgrade-tunnel.ts), and the replies (replies.ts), the one record of a request's end.
 * It holds what lives longer than a request: the route memo, the pool's health, the open tunnels.
 * Only a server's own failures (no connection, reset, no answer in time) count against it in the pool.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RouteInvalidation } from '@postern/contracts';
import { cachedMatcher } from '@postern/ip-address';
import type { VirtualHostNames } from '@postern/directory';
import type { RouteResolverPort } from '@postern/route-client';
import { AccessLog } from './access-log';
import { upstreamRequestHeaders } from './forwarding';
import type { Scheme } from './mail-mode';
import { Replies } from './replies';
import { admit, runRequest, type RequestPorts, type UserRoute } from './request-flow';
import { RouteMemo } from './route-memo';
import { UpstreamCarrier } from './upstream-carrier';
import { openTunnel, type OpenTunnel } from './upgrade-tunnel';
import { UpstreamHealth } from './upstream-health';
import type { UpstreamTls } from './upstream-tls';
import { newExchange, peerOf, type Peer } from './web-exchange';
import { WebListeners, type BoundPorts, type ListenerDeps, type WebRequest, type WebResponse } from './web-listeners';

export type { BoundPorts } from './web-listeners';
export type { RouteKind } from './web-exchange';

export interface WebProxyDeps extends ListenerDeps {
  readonly routes: RouteResolverPort;
  /** The names this proxy serves, for `zimbraReverseProxyStrictServerNameEnabled`. */
  readonly names: VirtualHostNames;
  /** TLS to mailbox servers (`zimbraReverseProxySSLToUpstreamEnabled`): verify their certificates, against `ca` when given. */
  readonly upstreamTls: UpstreamTls;
  /** The main and login pools (web-pools.ts), read per request. */
  readonly pools: { readonly main: readonly string[]; readonly login: readonly string[] };
}

export class WebProxyServer {
  private readonly listeners: WebListeners;
  private readonly carrier: UpstreamCarrier;
  private readonly trustedPeers = cachedMatcher(() => this.deps.settings().posternWebTrustedProxies);
  private readonly memo: RouteMemo<UserRoute>;
  private readonly health: UpstreamHealth;
  private readonly replies: Replies;
  private readonly accessLog: AccessLog;
  private readonly tunnels = new Set<OpenTunnel>();
  private readonly flow: RequestPorts;

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
    this.accessLog = new AccessLog(() => deps.settings().posternWebAccessLog, deps.logger, deps.metrics.accessLogDropped);
    this.replies = new Replies(deps.metrics, this.accessLog);
    this.carrier = new UpstreamCarrier({
      upstreamTls: deps.upstreamTls,
      logger: deps.logger,
      replies: this.replies,
      health: this.health,
      serverFailed: (upstream, why) => this.serverFailed(upstream, why),
    });
    this.flow = {
      routes: deps.routes,
      names: deps.names,
      memo: this.memo,
      pools: deps.pools,
      isUp: (member) => this.health.isUp(member),
      boundPorts: () => this.listeners.ports,
      metrics: deps.metrics,
      logger: deps.logger,
      carrier: this.carrier,
      replies: this.replies,
    };
    this.listeners = new WebListeners(deps, {
      request: (request, response, scheme) => this.handle(request, response, scheme),
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

  /** Stops accepting, lets requests in flight finish for up to `drainMs` (tunnels are ended then), then closes the upstream pools and the access log (every line written). */
  async stop(drainMs: number): Promise<void> {
    this.health.stop();
    await this.listeners.stop(drainMs, () => {
      for (const tunnel of this.tunnels) tunnel.close('shutdown');
    });
    await this.carrier.close();
    await this.accessLog.close();
  }

  private handle(request: WebRequest, response: WebResponse, scheme: Scheme): void {
    const s = this.deps.settings();
    runRequest(newExchange(request, response, scheme, s, this.peer(request)), this.flow);
  }

  /** An `Upgrade` request (WebSocket): the same gate as any request, then a tunnel of its own (upgrade-tunnel.ts). */
  private async upgrade(request: IncomingMessage, client: Socket, head: Buffer, scheme: Scheme): Promise<void> {
    client.setNoDelay(true);
    client.on('error', () => client.destroy());
    const s = this.deps.settings();
    const x = newExchange(request, undefined, scheme, s, this.peer(request));
    const admission = await admit(x, this.flow);
    if (admission.kind === 'answer') return this.replies.refuseUpgrade(client, x, admission.status, admission.text);
    if (admission.kind === 'redirect') return this.replies.refuseUpgrade(client, x, 302, '', admission.location);
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

  /** A failure of the server itself: counted against it when it is a pool member (a user's own server is not in the pool's health). */
  private serverFailed(upstream: string, why: string): void {
    const { main, login } = this.deps.pools;
    if (main.includes(upstream) || login.includes(upstream)) this.health.failed(upstream, why);
  }

  /** The request's peer, and whether its X-Forwarded-* are believed. */
  private peer(request: WebRequest): Peer {
    const ip = peerOf(request);
    return { ip, trusted: this.trustedPeers().matches(ip) };
  }
}
