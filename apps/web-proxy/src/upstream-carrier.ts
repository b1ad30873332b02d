/**
 * A request carried to its mailbox server and the answer carried back: over a kept-alive HTTP/1.1
 * connection per server (undici), TLS when `zimbraReverseProxySSLToUpstreamEnabled`, with the
 * forwarded headers (forwarding.ts); both bodies streamed, never held whole, their bytes counted
 * for the access log. A failure is answered 502/504 (replies.ts); only the server's own failures
 * count against it (web-rules.ts `isServerFailure`).
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { EffectiveSettings } from '@postern/config';
import type { Logger } from '@postern/service-kit';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { clientResponseHeaders, upstreamRequestHeaders } from './forwarding';
import { CLIENT_GONE, type Exchange, type Replies } from './replies';
import type { UpstreamHealth } from './upstream-health';
import { failureOf, upstreamTlsOptions, type UpstreamTls } from './upstream-tls';
import type { WebRequest, WebResponse } from './web-listeners';
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

export class UpstreamCarrier {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly deps: CarrierDeps) {}

  /** Closes the kept-alive connections (after the listeners have drained). */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }

  /**
   * Carries `x` to `x.upstream` and its answer back. Returns the failure to tell the client when
   * a user's server refused the connection before anything was sent (the caller may look the route
   * up again); otherwise the request has been settled here.
   */
  async forward(x: Exchange, request: WebRequest, response: WebResponse, userRouted: boolean): Promise<502 | 504 | undefined> {
    const s = x.settings;
    const upstream = x.upstream;
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
      peerIp: x.peerIp,
      proto: x.scheme,
      localPort: request.socket.localPort ?? 0,
      peerTrusted: x.peerTrusted,
    });
    const readTimeout = readTimeoutOf(x.route, x.target, s);
    const options: Dispatcher.RequestOptions & { servername: string } = {
      method: x.method,
      path: x.target,
      headers: headers.flat(),
      // undici takes an async iterable as a body (its types name only streams).
      body: hasBody(request) ? (counted(request, x) as unknown as Readable) : null,
      signal: abort,
      headersTimeout: readTimeout,
      bodyTimeout: readTimeout,
      // One name per server, whatever the client's Host: undici would otherwise take the TLS name
      // from the Host header, and re-connect whenever it changes (see pool()).
      servername: splitHostPort(upstream)[0],
    };
    try {
      const answer = await this.pool(upstream, s).request(options);
      response.writeHead(answer.statusCode, { ...clientResponseHeaders(answer.headers), ...addedHeaders(s) });
      await relay(answer.body, response, x);
      this.deps.health.succeeded(upstream);
      this.deps.replies.settle(x, answer.statusCode);
    } catch (error) {
      if (aborted) {
        this.deps.replies.settle(x, CLIENT_GONE);
        return undefined;
      }
      const status = upstreamFailureStatus(error);
      const failure = failureOf(error);
      if (isServerFailure(error)) this.deps.serverFailed(upstream, failure.code);
      this.deps.logger.warn({ rid: x.rid, upstream, status, ...failure }, 'web: upstream failed');
      this.deps.logger.debug({ rid: x.rid, upstream, err: error }, 'web: upstream failure in full');
      // A user's server that refused the connection: the caller drops the route and may try again.
      if (userRouted && isConnectFailure(error) && !response.headersSent) return status;
      this.deps.replies.failed(response, x, status);
    } finally {
      response.off('close', onClientGone);
    }
    return undefined;
  }

  /**
   * The kept-alive connections to `upstream`, over TLS when `zimbraReverseProxySSLToUpstreamEnabled`:
   * its connector verifies the server's own name and sends it as SNI (upstream-tls.ts), whatever
   * name a request carries.
   */
  private pool(upstream: string, s: EffectiveSettings): Pool {
    const tls = s.zimbraReverseProxySSLToUpstreamEnabled;
    const origin = `${tls ? 'https' : 'http'}://${upstream}`;
    let pool = this.pools.get(origin);
    if (!pool) {
      const [host] = splitHostPort(upstream);
      const { host: _host, servername, ...tlsOptions } = upstreamTlsOptions(host, this.deps.upstreamTls);
      const connector = buildConnector({ ...tlsOptions, timeout: s.zimbraReverseProxyUpstreamConnectTimeout });
      pool = new Pool(origin, {
        connections: CONNECTIONS_PER_UPSTREAM,
        keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
        connect: (options, callback) => connector({ ...options, ...(servername ? { servername } : { servername: undefined }) }, callback),
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }
}

/** The request body as it streams upstream, its bytes counted for the access log. */
async function* counted(body: WebRequest, x: Exchange): AsyncGenerator<Buffer> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    x.bytesIn += chunk.length;
    yield chunk;
  }
}

/**
 * The response body from the mailbox server to the client, with backpressure: `pipe()` and a
 * promise of its end, not `stream.pipeline`, which costs an AbortController and its DOMException
 * per request. A client that leaves is seen by `forward` (its abort destroys the body, which
 * rejects here); a body that fails rejects, and the caller cuts the answer.
 */
function relay(body: Readable, response: WebResponse, x: Exchange): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      body.unpipe(response);
      reject(error);
    };
    // A client gone before the end, after the body was all read: nothing else would settle this.
    const gone = () => fail(new Error('client closed the connection'));
    body.on('data', (chunk: Buffer) => (x.bytesOut += chunk.length));
    body.once('error', fail);
    response.once('close', gone);
    response.once('finish', () => {
      body.off('error', fail);
      response.off('close', gone);
      resolve();
    });
    body.pipe(response as NodeJS.WritableStream);
  });
}
