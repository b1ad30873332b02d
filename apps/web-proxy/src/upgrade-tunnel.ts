/**
 * An upgraded request (WebSocket, or any `Upgrade`) carried to its mailbox server: a connection
 * of its own, over TLS when the upstream speaks it (verified as upstream-tls.ts says), carrying the
 * request head with the forwarded headers, then bytes both ways until either side closes. The
 * server's own answer (101, or a refusal) reaches the client as it is; a server that cannot be
 * reached before any byte gives 502.
 *
 * A tunnel does not live for ever: no byte either way for `idleMs` closes it (nginx closes one at
 * its proxy_read_timeout), and once one side has closed its half the other has `halfCloseMs` to
 * finish (HAProxy's client-fin / server-fin), so a client that vanished or a server that never
 * answers a close does not hold two sockets. Shutdown ends the tunnels still open at the drain bound.
 */
import type { IncomingMessage } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '@postern/service-kit';
import type { HeaderList } from './forwarding';
import { failureOf, upstreamTlsOptions, type UpstreamTls } from './upstream-tls';
import { splitHostPort } from './web-rules';
import type { WebProxyMetrics } from './web-proxy.metrics';

export interface Tunnel {
  readonly request: IncomingMessage;
  readonly client: Socket;
  /** What the client sent after its head. */
  readonly head: Buffer;
  /** `host:port` of the mailbox server. */
  readonly upstream: string;
  /** The request's headers as they go upstream (forwarded ones set, hop-by-hop ones dropped). */
  readonly headers: HeaderList;
  readonly tls: boolean;
  readonly connectTimeoutMs: number;
  /** No byte either way for this long closes the tunnel. */
  readonly idleMs: number;
  /** Once one side has closed its half, the other has this long before both are closed. */
  readonly halfCloseMs: number;
  readonly rid: string;
}

export interface TunnelDeps {
  readonly upstreamTls: UpstreamTls;
  readonly logger: Logger;
  readonly metrics: Pick<WebProxyMetrics, 'websockets'>;
}

/** How a tunnel ended, for its access line and metrics. */
export interface TunnelEnd {
  /** `upgraded` once the server was reached; `5xx` when it could not be (the client got 502). */
  readonly outcome: 'upgraded' | '5xx';
  /** The status line's code the server answered (101, or its refusal); 502 when it could not be reached. */
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Why it closed: `closed` (a side closed), `idle`, `half-closed`, `shutdown`, or the failure's code. */
  readonly reason: string;
}

/** An open tunnel, as its owner holds it: ended at the drain bound on shutdown. */
export interface OpenTunnel {
  close(reason: string): void;
}

/** Opens the tunnel; `done` is told once how it ended. Returns the handle that ends it. */
export function openTunnel(tunnel: Tunnel, deps: TunnelDeps, done: (end: TunnelEnd) => void): OpenTunnel {
  const { request, client, head, upstream, headers } = tunnel;
  const [host, port] = splitHostPort(upstream);
  // The upgrade itself is hop-by-hop, and meant for the next hop: it goes on.
  headers.push(['Connection', 'Upgrade'], ['Upgrade', String(request.headers.upgrade ?? 'websocket')]);
  const requestHead = `${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  const server = tunnel.tls ? tlsConnect({ ...upstreamTlsOptions(host, deps.upstreamTls), port }) : tcpConnect({ host, port });
  server.setNoDelay(true);
  const connectTimer = setTimeout(() => server.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), tunnel.connectTimeoutMs);
  let connected = false;
  let status = 0;
  let reason = 'closed';
  let halfCloseTimer: NodeJS.Timeout | undefined;
  const close = (why: string) => {
    if (reason === 'closed') reason = why;
    server.destroy();
    client.destroy();
  };
  server.once(tunnel.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    deps.metrics.websockets.inc();
    server.write(requestHead);
    if (head.length > 0) server.write(head);
    // The answer's status code, for the log: the first line's second word.
    server.once('data', (chunk: Buffer) => (status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1] ?? 0)));
    server.pipe(client);
    client.pipe(server);
    // Any byte either way is activity on the client's socket (read from it, or written to it).
    client.setTimeout(tunnel.idleMs, () => close('idle'));
    const halfClosed = () => (halfCloseTimer ??= setTimeout(() => close('half-closed'), tunnel.halfCloseMs));
    client.once('end', halfClosed);
    server.once('end', halfClosed);
  });
  let ended = false;
  const end = (outcome: TunnelEnd['outcome'], endStatus: number, why: string) => {
    if (ended) return;
    ended = true;
    clearTimeout(halfCloseTimer);
    done({ outcome, status: endStatus, bytesIn: client.bytesRead, bytesOut: client.bytesWritten, reason: why });
  };
  server.on('error', (error) => {
    clearTimeout(connectTimer);
    const failure = failureOf(error);
    if (server.bytesRead === 0 && client.writable && client.bytesWritten === 0) {
      deps.logger.warn({ rid: tunnel.rid, upstream, ...failure }, 'web: upgrade upstream failed');
      end('5xx', 502, failure.code);
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (reason === 'closed') reason = failure.code;
    client.destroy();
  });
  server.once('close', () => {
    if (connected) deps.metrics.websockets.dec();
    end('upgraded', status, reason);
    client.destroy();
  });
  client.once('close', () => server.destroy());
  return { close };
}
