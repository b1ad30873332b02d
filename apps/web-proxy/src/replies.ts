/**
 * What the web proxy answers itself, and the one place a request's end is recorded: its metrics
 * (`postern_web_requests_total`, `postern_web_request_seconds`) and its access line, once per
 * request whichever way it ended (proxied, answered here, cut, or left by its client).
 *
 * Answers go to a response (HTTP/1.1 or HTTP/2) or, for an upgrade the proxy does not carry, as
 * raw HTTP/1.1 on its socket, with the same status and the same metrics either way.
 */
import type { Socket } from 'node:net';
import type { EffectiveSettings } from '@postern/config';
import type { AccessLog } from './access-log';
import { loggedTarget } from './access-log';
import type { Scheme } from './mail-mode';
import type { RequestRoute } from './request-route';
import type { WebResponse } from './web-listeners';
import type { WebProxyMetrics } from './web-proxy.metrics';
import { addedHeaders, statusClass } from './web-rules';

/** The route kind a request was sent by, as metrics and the access log label it. */
export type RouteKind = RequestRoute['rule'] | 'pool' | 'login-pool' | 'mail-mode' | 'unknown-host';

/** One request (or upgrade) from its arrival to its end: what every step after the listener needs, in one object. */
export interface Exchange {
  readonly rid: string;
  /** performance.now() at arrival. */
  readonly started: number;
  readonly scheme: Scheme;
  readonly protocol: 'h1' | 'h2' | 'ws';
  /** The peer: the client, or the load balancer that sent a PROXY header naming it (then the client). */
  readonly peerIp: string;
  /** Whether the peer's X-Forwarded-* are believed (`posternWebTrustedProxies`). */
  readonly peerTrusted: boolean;
  /** The client as the access log names it: a trusted peer's last X-Forwarded-For address, else the peer. */
  readonly client: string;
  /** The Host (or `:authority`) name, when usable. */
  readonly host: string | undefined;
  readonly method: string;
  readonly target: string;
  /** The settings this request is served under, read once at its arrival. */
  readonly settings: EffectiveSettings;
  route: RouteKind;
  /** `host:port` of the mailbox server, or `none`. */
  upstream: string;
  bytesIn: number;
  bytesOut: number;
}

/** The status metrics and the log give a request its client left before the end (nginx's 499). */
export const CLIENT_GONE = 499;

export class Replies {
  constructor(
    private readonly metrics: WebProxyMetrics,
    private readonly accessLog: AccessLog,
  ) {}

  /** Records the end of `x` with `status` (the metrics' class: `aborted` for {@link CLIENT_GONE}, or `outcome` when given). */
  settle(x: Exchange, status: number, outcome?: string): void {
    const ms = performance.now() - x.started;
    this.metrics.requests.inc({
      route: x.route,
      status: outcome ?? (status === CLIENT_GONE ? 'aborted' : statusClass(status)),
      upstream: x.upstream,
      protocol: x.protocol,
    });
    this.metrics.upstreamSeconds.observe({ route: x.route }, ms / 1000);
    this.accessLog.write({
      rid: x.rid,
      client: x.client,
      vhost: x.host,
      method: x.method,
      path: loggedTarget(x.target),
      status,
      bytesIn: x.bytesIn,
      bytesOut: x.bytesOut,
      upstream: x.upstream,
      route: x.route,
      protocol: x.protocol,
      ms,
    });
  }

  /** A small page of our own. */
  page(response: WebResponse, x: Exchange, status: number, text: string): void {
    const body = pageBody(status, text);
    response.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      ...addedHeaders(x.settings),
    });
    response.end(body);
    x.bytesOut = Buffer.byteLength(body);
    this.settle(x, status);
  }

  /** A 302 to `location` (the mail mode's, or the error handler's). */
  redirect(response: WebResponse, x: Exchange, location: string): void {
    response.writeHead(302, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-store', ...addedHeaders(x.settings) });
    response.end();
    this.settle(x, 302);
  }

  /** Tells the client its request could not be carried: the error handler URL or a page of ours (or a cut, once the answer began). */
  failed(response: WebResponse, x: Exchange, status: 502 | 504): void {
    if (response.headersSent) {
      destroy(response);
      return this.settle(x, status);
    }
    const handler = x.settings.zimbraReverseProxyErrorHandlerURL;
    if (handler !== '') return this.redirect(response, x, `${handler}${handler.includes('?') ? '&' : '?'}err=${status}&up=${encodeURIComponent(x.upstream)}`);
    this.page(response, x, status, status === 504 ? 'The mailbox server did not answer in time.' : 'The mailbox server cannot be reached.');
  }

  /** The same answers for an upgrade the proxy does not carry, written on its socket, which is then closed. */
  refuseUpgrade(socket: Socket, x: Exchange, status: number, text: string, location?: string): void {
    const body = location === undefined ? pageBody(status, text) : '';
    const headers = [
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
      'Connection: close',
      'Cache-Control: no-store',
      ...(location === undefined ? ['Content-Type: text/html; charset=utf-8'] : [`Location: ${location}`]),
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(addedHeaders(x.settings)).map(([name, value]) => `${name}: ${value}`),
    ];
    if (socket.writable) socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
    else socket.destroy();
    x.bytesOut = Buffer.byteLength(body);
    this.settle(x, status);
  }
}

const REASONS: Readonly<Record<number, string>> = {
  302: 'Found',
  400: 'Bad Request',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function pageBody(status: number, text: string): string {
  return `<!doctype html><title>${status}</title><p>${text}</p>\n`;
}

/** Cuts an answer that has begun: the client must not take a short one for whole. */
function destroy(response: WebResponse): void {
  if ('stream' in response) response.stream.close(0x2 /* INTERNAL_ERROR */);
  else response.destroy();
}
