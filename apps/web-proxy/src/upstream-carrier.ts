/**
 * A request carried to its mailbox server and the answer carried back: over a kept-alive HTTP/1.1
 * connection per server (undici's `Pool`), TLS when `zimbraReverseProxySSLToUpstreamEnabled`, with
 * the forwarded headers (forwarding.ts). undici's `dispatch` drives one {@link Relay} per request,
 * which writes the status and headers straight to the client's response and each chunk of the body
 * after them, pausing the upstream while the client's side is full: no promise, no stream and no
 * iterator per request, both bodies streamed, never held whole, their bytes counted for the access
 * log. A failure is answered 502/504 (replies.ts); only the server's own failures count against it
 * (web-rules.ts `isServerFailure`).
 */
import type { EffectiveSettings } from '@postern/config';
import type { Logger } from '@postern/service-kit';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { clientResponseHeaders, flatHeaders, upstreamRequestHeaders } from './forwarding';
import { CLIENT_GONE, type HttpExchange, type Replies } from './replies';
import type { UpstreamHealth } from './upstream-health';
import type { WebResponse } from './web-listeners';
import { failureOf, upstreamTlsOptions, type UpstreamTls } from './upstream-tls';
import { addedHeaders, hasBody, isConnectFailure, isServerFailure, readTimeoutOf, splitHostPort, upstreamFailureStatus } from './web-rules';

/** Kept-alive connections per mailbox server. */
const CONNECTIONS_PER_UPSTREAM = 64;
/** How long an idle connection to a mailbox server is kept for the next request. */
const UPSTREAM_KEEP_ALIVE_MS = 30_000;

export interface CarrierDeps {
  readonly upstreamTls: UpstreamTls;
  readonly logger: Logger;
  readonly replies: Replies;
  readonly health: Pick<UpstreamHealth, 'succeeded'>;
  /** A failure of the server itself (the owner decides whether it counts: pool members only). */
  readonly serverFailed: (upstream: string, why: string) => void;
}

/** What a user's server that refused the connection leaves to the caller: the status the client is owed. */
export type Refused = (status: 502 | 504) => void;

/** A mailbox server's kept-alive connections, and the name its requests carry for TLS. */
interface Upstream {
  readonly pool: Pool;
  readonly host: string;
}

export class UpstreamCarrier {
  /** By `host:port`, one map per scheme: found without building a key per request. */
  private readonly pools = { http: new Map<string, Upstream>(), https: new Map<string, Upstream>() };

  constructor(readonly deps: CarrierDeps) {}

  /** Closes the kept-alive connections (after the listeners have drained). */
  async close(): Promise<void> {
    await Promise.all([...this.pools.http.values(), ...this.pools.https.values()].map(({ pool }) => pool.close()));
  }

  /**
   * Carries `x` to `x.upstream` and its answer back, and settles it. When `refused` is given (a
   * user's own server) and that server refused the connection before anything was sent, it is
   * called instead, and the caller may look the route up again and settle the request itself.
   */
  forward(x: HttpExchange, refused?: Refused): void {
    // A client gone already (it left while the route was looked up; an HTTP/2 stream reset, or
    // its connection closed, in the same read as its headers) has had its close emitted: nothing
    // is sent for it. Carried, its answer would wait on a response that never drains.
    if (clientGone(x.response)) return this.deps.replies.settle(x, CLIENT_GONE);
    const s = x.settings;
    const upstream = this.upstream(x.upstream, s);
    const request = x.request;
    const readTimeout = readTimeoutOf(x.route, x.target, s);
    const withBody = hasBody(request);
    if (withBody) {
      // Paused first: undici resumes the body when it starts writing it, so the count misses nothing.
      request.pause();
      request.on('data', (chunk: Buffer) => (x.bytesIn += chunk.length));
    }
    const options: Dispatcher.DispatchOptions & { servername: string } = {
      method: x.method,
      path: x.target,
      headers: flatHeaders(
        upstreamRequestHeaders(request.rawHeaders, {
          peerIp: x.peerIp,
          proto: x.scheme,
          localPort: request.socket.localPort ?? 0,
          peerTrusted: x.peerTrusted,
        }),
      ),
      body: withBody ? request : null,
      headersTimeout: readTimeout,
      bodyTimeout: readTimeout,
      // One name per server, whatever the client's Host: undici would otherwise take the TLS name
      // from the Host header, and re-connect whenever it changes (see upstream()).
      servername: upstream.host,
    };
    upstream.pool.dispatch(options, new Relay(x, this.deps, refused));
  }

  /**
   * The kept-alive connections to `upstream`, over TLS when `zimbraReverseProxySSLToUpstreamEnabled`:
   * its connector verifies the server's own name and sends it as SNI (upstream-tls.ts), whatever
   * name a request carries.
   */
  private upstream(upstream: string, s: EffectiveSettings): Upstream {
    const tls = s.zimbraReverseProxySSLToUpstreamEnabled;
    const pools = tls ? this.pools.https : this.pools.http;
    let found = pools.get(upstream);
    if (!found) {
      const origin = `${tls ? 'https' : 'http'}://${upstream}`;
      const [host] = splitHostPort(upstream);
      const { host: _host, servername, ...tlsOptions } = upstreamTlsOptions(host, this.deps.upstreamTls);
      const connector = buildConnector({ ...tlsOptions, timeout: s.zimbraReverseProxyUpstreamConnectTimeout });
      const pool = new Pool(origin, {
        connections: CONNECTIONS_PER_UPSTREAM,
        keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
        connect: (options, callback) => connector({ ...options, ...(servername ? { servername } : { servername: undefined }) }, callback),
      });
      found = { pool, host };
      pools.set(upstream, found);
    }
    return found;
  }
}

/** Whether the client's side of `response` has closed (HTTP/2: its stream; HTTP/1.1: its connection). */
function clientGone(response: WebResponse): boolean {
  return 'stream' in response ? response.stream.closed || response.stream.destroyed : response.destroyed;
}

/** Why a dispatch was aborted by the proxy: its client left. */
class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}

/**
 * One request's answer, from undici's callbacks to the client's response. The client leaving
 * aborts the dispatch (at once when it is under way, else as it starts); the client's side being
 * full pauses the upstream until it drains.
 */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private gone = false;
  private status = 0;

  constructor(
    private readonly x: HttpExchange,
    private readonly deps: CarrierDeps,
    private readonly refused: Refused | undefined,
  ) {
    // on, not once: it is always taken off at the end, and once would wrap it per request.
    x.response.on('close', this.onClientClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new ClientGone());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    this.x.response.writeHead(statusCode, clientResponseHeaders(headers, addedHeaders(this.x.settings)));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.x.bytesOut += chunk.length;
    this.write(chunk);
  }

  onResponseEnd(): void {
    const x = this.x;
    x.response.off('close', this.onClientClose);
    // Node's response already sends a small answer's head and body in one writev.
    x.response.end();
    this.deps.health.succeeded(x.upstream);
    this.deps.replies.settle(x, this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const x = this.x;
    x.response.off('close', this.onClientClose);
    x.response.off('drain', this.onDrain);
    if (this.gone) return this.deps.replies.settle(x, CLIENT_GONE);
    const status = upstreamFailureStatus(error);
    const failure = failureOf(error);
    if (isServerFailure(error)) this.deps.serverFailed(x.upstream, failure.code);
    this.deps.logger.warn({ rid: x.rid, upstream: x.upstream, status, ...failure }, 'web: upstream failed');
    this.deps.logger.debug({ rid: x.rid, upstream: x.upstream, err: error }, 'web: upstream failure in full');
    // A user's server that refused the connection: the caller drops the route and may try again.
    if (this.refused && isConnectFailure(error) && !x.response.headersSent) return this.refused(status);
    this.deps.replies.failed(x, status);
  }

  /** Writes a chunk of the body; the upstream waits while the client's side is full. */
  private write(chunk: Buffer): void {
    // Either protocol's response takes a Buffer; their write() overloads just do not unify.
    if ((this.x.response as NodeJS.WritableStream).write(chunk) || this.controller!.paused) return;
    // A response that is closed never drains: pausing would hold the connection for good.
    if (clientGone(this.x.response)) {
      this.gone = true;
      this.controller!.abort(new ClientGone());
    } else {
      this.controller!.pause();
      this.x.response.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => this.controller?.resume();

  /**
   * The client left before the answer's end. The listener is taken off before the answer is ended,
   * so a close that reaches it is a departure (`writableFinished` cannot tell: an HTTP/2 stream
   * closed by its client reads as finished).
   */
  private readonly onClientClose = (): void => {
    this.x.response.off('close', this.onClientClose);
    this.gone = true;
    this.controller?.abort(new ClientGone());
  };
}
