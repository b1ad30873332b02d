/**
 * The web proxy's listeners, apart from what they carry: HTTP on `zimbraMailProxyPort`, HTTPS on
 * `zimbraMailSSLProxyPort` as the mail mode has them, opened, moved when a setting changes and
 * closed on stop. Each hands its requests and upgrades to the request flow (web-proxy-server.ts).
 *
 * HTTPS offers HTTP/2 and HTTP/1.1 by ALPN (`posternWebHttp2`), as nginx's `http2 on` and
 * HAProxy's `alpn h2,http/1.1` do; a client that offers neither is served HTTP/1.1. HTTP/2 is
 * bounded as nginx bounds it: concurrent streams (`posternWebHttp2MaxConcurrentStreams`), the
 * header list (16 KiB), and the stream-reset rate of CVE-2023-44487 (rapid reset), which the
 * HTTP/2 library (nghttp2 ≥ 1.57) answers with GOAWAY past a burst of 1,000 and 33 a second.
 *
 * Every HTTP/1.1 connection, on either listener, has the client timeouts of the settings: the head
 * within `posternWebClientHeaderTimeout` (408 and closed, slowloris), idle between requests
 * `posternWebClientKeepAliveTimeout`. A malformed request, which Node's strict parser refuses
 * (the smuggling shapes), gets 400, an oversized head 431, before any routing.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { EffectiveSettings } from '@postern/config';
import type { VirtualHostCertificates } from '@postern/directory';
import { cachedMatcher, unmapIpv4 } from '@postern/ip-address';
import { ListenerSet } from '@postern/listener-set';
import { PROXY_HEADER_TIMEOUT_MS, requireProxyHeaders } from '@postern/proxy-protocol';
import type { Logger } from '@postern/service-kit';
import { listens, type Scheme } from './mail-mode';
import type { WebProxyMetrics } from './web-proxy.metrics';

/** The largest request head accepted (Node's default; nginx's large_client_header_buffers is 4 × 8k); larger: 431. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** How often Node checks the head timeout of HTTP/1.1 connections: a slow head is closed within this of its limit. */
const HEADER_TIMEOUT_CHECK_MS = 1_000;

/** A request on either protocol: Node's compatibility API gives HTTP/2 streams the shape of HTTP/1.1 ones. */
export type WebRequest = IncomingMessage | Http2ServerRequest;
export type WebResponse = ServerResponse | Http2ServerResponse;

export interface ListenerHandlers {
  request(request: WebRequest, response: WebResponse, scheme: Scheme): void;
  upgrade(request: IncomingMessage, socket: Socket, head: Buffer, scheme: Scheme): void;
}

export interface ListenerDeps {
  readonly settings: () => EffectiveSettings;
  readonly metrics: WebProxyMetrics;
  readonly logger: Logger;
  /** The default certificate (PEM) and the virtual hosts' own; without it, no HTTPS listener. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly certificates: VirtualHostCertificates };
}

/** The listeners a start opened, by scheme (the port actually bound). */
export type BoundPorts = Partial<Record<Scheme, number>>;

type AnyServer = Server | Http2SecureServer;

/** The HTTP/1.1 client timeouts, as properties Node's HTTP/1.1 connection handling reads from its server (the HTTP/2 server's HTTP/1.1 side too). */
interface Http1Timeouts {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
}

export class WebListeners {
  /** The listeners by scheme, opened, moved and closed as the settings say. */
  private readonly set: ListenerSet<{ readonly name: Scheme; readonly port: number }, AnyServer>;
  /** Listeners closed by a settings change: their connections finish, or are closed on stop. */
  private readonly retired: AnyServer[] = [];
  /** The load balancers that owe a PROXY header (`posternProxyProtocolTrustedNetworks`). */
  private readonly balancers = cachedMatcher(() => this.deps.settings().posternProxyProtocolTrustedNetworks);
  /** HTTP/2 connections open now: told to finish (GOAWAY) on stop, closed at the drain bound. */
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(
    private readonly deps: ListenerDeps,
    private readonly handlers: ListenerHandlers,
  ) {
    this.set = new ListenerSet({
      open: ({ name, port }, host) => this.openListener(name, port, host),
      close: ({ server }) => this.retire(server),
      logger: deps.logger,
      logPrefix: 'web: ',
      errorFields: (error) => ({ code: codeOf(error) }),
    });
  }

  /** The listeners open now, by scheme (the port actually bound); read per request, so kept, not rebuilt. */
  get ports(): BoundPorts {
    return this.bound;
  }

  private bound: BoundPorts = {};

  /** Opens the listeners the mail mode has (`zimbraReverseProxyMailMode`); port 0: any free one. */
  async listen(ports: Record<Scheme, number>, host: string): Promise<BoundPorts> {
    try {
      await this.set.start(this.wanted(ports), host);
    } finally {
      this.noteBound();
    }
    return this.ports;
  }

  /** Takes note of the listeners open now, after anything that opens or closes them. */
  private noteBound(): void {
    this.bound = Object.fromEntries(this.set.listeners.map((l) => [l.spec.name, l.boundPort]));
  }

  /**
   * Applies changed settings: the client timeouts to every listener, and re-opens what the mail
   * mode or a port changed, and only that. Requests on a closed listener finish; a port that
   * cannot be bound is logged and the listener stays where it was.
   */
  reopenChanged(ports: Record<Scheme, number>): Promise<void> {
    for (const { server } of this.set.listeners) this.applyTimeouts(server);
    return this.set.reopen(() => this.wanted(ports)).finally(() => this.noteBound());
  }

  /** A listener a settings change closed: its connections finish, and it is waited for on stop until they have. */
  private retire(server: AnyServer): void {
    this.retired.push(server);
    // Closed once its last connection is: then it is no longer waited for on stop.
    server.close(() => this.retired.splice(this.retired.indexOf(server), 1));
    closeIdle(server);
  }

  /**
   * Stops accepting and lets requests in flight finish for up to `drainMs`; then closes every
   * connection left, after `atDrainBound` has ended what the listeners do not track (tunnels).
   */
  async stop(drainMs: number, atDrainBound: () => void): Promise<void> {
    const servers = [...(await this.set.stop()).map((l) => l.server), ...this.retired];
    this.noteBound();
    const closed = servers.map(
      (server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : server.once('close', () => resolve()))),
    );
    for (const server of servers) closeIdle(server);
    for (const session of this.sessions) session.close();
    const timer = setTimeout(() => {
      atDrainBound();
      for (const server of servers) if ('closeAllConnections' in server) server.closeAllConnections();
      for (const session of this.sessions) session.destroy();
    }, drainMs);
    await Promise.all(closed);
    clearTimeout(timer);
  }

  /** The listeners the mail mode has, on `ports`; HTTPS only with a certificate. */
  private wanted(ports: Record<Scheme, number>): { name: Scheme; port: number }[] {
    const mode = this.deps.settings().zimbraReverseProxyMailMode;
    const schemes: Scheme[] = [];
    if (listens(mode, 'http')) schemes.push('http');
    if (listens(mode, 'https') && this.deps.tls) schemes.push('https');
    return schemes.map((name) => ({ name, port: ports[name] }));
  }

  private async openListener(scheme: Scheme, port: number, host: string): Promise<{ server: AnyServer; boundPort: number }> {
    const server = this.createListener(scheme);
    this.applyTimeouts(server);
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
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.handlers.upgrade(request, socket, head, scheme));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { server, boundPort: (server.address() as AddressInfo).port };
  }

  private createListener(scheme: Scheme): AnyServer {
    const handler = (request: WebRequest, response: WebResponse) => this.handlers.request(request, response, scheme);
    const tls = this.deps.tls;
    if (scheme === 'http' || !tls) {
      return createServer({ maxHeaderSize: MAX_HEADER_BYTES, noDelay: true, connectionsCheckingInterval: HEADER_TIMEOUT_CHECK_MS }, handler as RequestListener);
    }
    const s = this.deps.settings();
    const secure = {
      cert: tls.cert,
      key: tls.key,
      SNICallback: (name: string, done: (error: Error | null, context: import('node:tls').SecureContext) => void) =>
        void tls.certificates.contextFor(name).then((context) => done(null, context)),
    };
    const server: AnyServer = s.posternWebHttp2
      ? createSecureServer({
          ...secure,
          allowHTTP1: true,
          settings: { maxConcurrentStreams: s.posternWebHttp2MaxConcurrentStreams, maxHeaderListSize: MAX_HEADER_BYTES, enablePush: false },
          maxSessionMemory: 10,
        })
      : createHttpsServer({ ...secure, maxHeaderSize: MAX_HEADER_BYTES, noDelay: true, connectionsCheckingInterval: HEADER_TIMEOUT_CHECK_MS });
    server.on('request', handler);
    if (s.posternWebHttp2) {
      // Read by Node's HTTP/1.1 side of an HTTP/2 server from the server itself, as node:http's options are.
      Object.assign(server, { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: HEADER_TIMEOUT_CHECK_MS, insecureHTTPParser: false });
      server.on('connection', (socket: Socket) => socket.setNoDelay(true));
      (server as Http2SecureServer).on('session', (session) => this.track(session));
    }
    // A client without SNI never reaches SNICallback: counted here, so every handshake is.
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!(socket as TLSSocket & { servername?: string | false }).servername) this.deps.metrics.handshakes.inc({ certificate: 'default' });
    });
    return server;
  }

  /**
   * An HTTP/2 connection: held for shutdown, and closed (GOAWAY) once it has had no stream open
   * and no frame for `posternWebClientKeepAliveTimeout`, as nginx closes an idle one.
   */
  private track(session: ServerHttp2Session): void {
    this.sessions.add(session);
    let streams = 0;
    session.on('stream', (stream: ServerHttp2Stream) => {
      streams++;
      stream.once('close', () => streams--);
    });
    session.setTimeout(this.deps.settings().posternWebClientKeepAliveTimeout, () => {
      if (streams === 0) session.close();
    });
    session.once('close', () => this.sessions.delete(session));
  }

  private applyTimeouts(server: AnyServer): void {
    const s = this.deps.settings();
    const timeouts: Http1Timeouts = {
      keepAliveTimeout: s.posternWebClientKeepAliveTimeout,
      headersTimeout: s.posternWebClientHeaderTimeout,
      // A request's body may take as long as it takes (uploads); the read timeouts bound the rest.
      requestTimeout: 0,
    };
    Object.assign(server, timeouts);
  }

  /** A request Node's parser refused: 431 for a head too large, 408 for one too slow, 400 for anything malformed. */
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

/** Closes the idle HTTP/1.1 connections of a listener (an HTTP/2 server has them only beside HTTP/2). */
function closeIdle(server: AnyServer): void {
  (server as Server).closeIdleConnections();
}

function codeOf(error: unknown): string {
  return String((error as { code?: unknown }).code ?? (error instanceof Error ? error.message : error));
}
