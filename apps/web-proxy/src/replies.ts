/**
 * What the web proxy answers itself, and the one place a request's end is recorded: its metrics
 * (`postern_web_requests_total`, `postern_web_request_seconds`) and its access line, once per
 * request whichever way it ended (proxied, answered here, cut, or left by its client).
 *
 * Answers go to a response (HTTP/1.1 or HTTP/2) or, for an upgrade the proxy does not carry, as
 * raw HTTP/1.1 on its socket, with the same status and the same metrics either way.
 */
import type { Socket } from 'node:net';
import type { AccessLog } from './access-log';
import { loggedTarget } from './access-log';
import type { Exchange, HttpExchange } from './web-exchange';
import type { WebResponse } from './web-listeners';
import type { WebProxyMetrics } from './web-proxy.metrics';
import { addedHeaders, statusClass } from './web-rules';

export type { Exchange, HttpExchange, RouteKind } from './web-exchange';

/** The status metrics and the log give a request its client left before the end (nginx's 499). */
export const CLIENT_GONE = 499;

/** The metric children a request's end touches, found once per label set (their labels are bounded). */
interface Recorded {
  readonly requests: { inc(): void };
  readonly seconds: { observe(value: number): void };
}

/** A request's labels, and the children they found. */
interface LastRecorded {
  readonly route: string;
  readonly status: string;
  readonly upstream: string;
  readonly protocol: string;
  readonly recorded: Recorded;
}

export class Replies {
  /** By route, status class, upstream and protocol: prom-client's own lookup sorts and joins the labels on every call. */
  private readonly children = new Map<string, Recorded>();
  /** The last request's labels and their children. */
  private last: LastRecorded | undefined;

  constructor(
    private readonly metrics: WebProxyMetrics,
    private readonly accessLog: AccessLog,
  ) {}

  /** Records the end of `x` with `status` (the metrics' class: `aborted` for {@link CLIENT_GONE}, or `outcome` when given). */
  settle(x: Exchange, status: number, outcome?: string): void {
    const ms = performance.now() - x.started;
    const recorded = this.recorded(x, outcome ?? (status === CLIENT_GONE ? 'aborted' : statusClass(status)));
    recorded.requests.inc();
    recorded.seconds.observe(ms / 1000);
    if (!this.accessLog.enabled) return;
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

  private recorded(x: Exchange, status: string): Recorded {
    // Most requests end as the one before (same route, class, server and protocol): no key to build.
    const last = this.last;
    if (last !== undefined && last.route === x.route && last.status === status && last.upstream === x.upstream && last.protocol === x.protocol) {
      return last.recorded;
    }
    const key = `${x.route} ${status} ${x.upstream} ${x.protocol}`;
    let recorded = this.children.get(key);
    if (!recorded) {
      recorded = {
        requests: this.metrics.requests.labels({ route: x.route, status, upstream: x.upstream, protocol: x.protocol }),
        seconds: this.metrics.upstreamSeconds.labels({ route: x.route }),
      };
      this.children.set(key, recorded);
    }
    this.last = { route: x.route, status, upstream: x.upstream, protocol: x.protocol, recorded };
    return recorded;
  }

  /** A small page of our own. */
  page(x: HttpExchange, status: number, text: string): void {
    const response = x.response;
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
  redirect(x: HttpExchange, location: string): void {
    const response = x.response;
    response.writeHead(302, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-store', ...addedHeaders(x.settings) });
    response.end();
    this.settle(x, 302);
  }

  /** Tells the client its request could not be carried: the error handler URL or a page of ours (or a cut, once the answer began). */
  failed(x: HttpExchange, status: 502 | 504): void {
    if (x.response.headersSent) {
      destroy(x.response);
      return this.settle(x, status);
    }
    const handler = x.settings.zimbraReverseProxyErrorHandlerURL;
    if (handler !== '') return this.redirect(x, `${handler}${handler.includes('?') ? '&' : '?'}err=${status}&up=${encodeURIComponent(x.upstream)}`);
    this.page(x, status, status === 504 ? 'The mailbox server did not answer in time.' : 'The mailbox server cannot be reached.');
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
