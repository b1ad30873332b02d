/**
 * An upgraded request (WebSocket, or any `Upgrade`) carried to its mailbox server: a connection
 * of its own, over TLS when the upstream speaks it, carrying the request head with the forwarded
 * headers, then bytes both ways until either side closes. The server's own answer (101, or a
 * refusal) reaches the client as it is; a server that cannot be reached before any byte gives 502.
 */
import type { IncomingMessage } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '@postern/service-kit';
import type { HeaderList } from './forwarding';
import { refuseUpgrade, splitHostPort } from './web-rules';
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
}

export interface TunnelDeps {
  readonly upstreamTls: { readonly verify: boolean; readonly ca?: string };
  readonly logger: Logger;
  readonly metrics: Pick<WebProxyMetrics, 'websockets'>;
}

/** Opens the tunnel; `done` is told once how it ended (`upgraded`, or `5xx` when the server could not be reached). */
export function openTunnel(tunnel: Tunnel, deps: TunnelDeps, done: (status: 'upgraded' | '5xx') => void): void {
  const { request, client, head, upstream, headers } = tunnel;
  const [host, port] = splitHostPort(upstream);
  // The upgrade itself is hop-by-hop, and meant for the next hop: it goes on.
  headers.push(['Connection', 'Upgrade'], ['Upgrade', String(request.headers.upgrade ?? 'websocket')]);
  const requestHead = `${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  const { verify, ca } = deps.upstreamTls;
  const server = tunnel.tls ? tlsConnect({ host, port, servername: host, rejectUnauthorized: verify, ...(ca ? { ca } : {}) }) : tcpConnect({ host, port });
  server.setNoDelay(true);
  const connectTimer = setTimeout(() => server.destroy(new Error('connect timeout')), tunnel.connectTimeoutMs);
  let connected = false;
  server.once(tunnel.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    deps.metrics.websockets.inc();
    server.write(requestHead);
    if (head.length > 0) server.write(head);
    server.pipe(client);
    client.pipe(server);
  });
  let counted = false;
  const end = (status: 'upgraded' | '5xx') => {
    if (counted) return;
    counted = true;
    done(status);
  };
  server.on('error', (error) => {
    clearTimeout(connectTimer);
    if (server.bytesRead === 0 && client.writable && client.bytesWritten === 0) {
      deps.logger.warn({ upstream, err: error }, 'web: upgrade upstream failed');
      end('5xx');
      return refuseUpgrade(client, '502 Bad Gateway');
    }
    client.destroy();
  });
  server.once('close', () => {
    if (connected) deps.metrics.websockets.dec();
    end('upgraded');
    client.destroy();
  });
  client.once('close', () => server.destroy());
}
