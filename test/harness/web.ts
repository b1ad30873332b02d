/**
 * Stand-ins for the mailbox servers' web ports: an HTTP server on a mailbox host's address that
 * answers every request with what it saw (which server, method, target, headers, body size) as
 * JSON, streams `n` bytes for `GET …/big?n=N`, serves a small page at `…/page.html`, or dies after
 * 10 bytes of 1000 for `GET …/die`; over HTTPS when given a certificate. And the directory fixture rewritten so each
 * server entry's `zimbraMailPort` is its stand-in's, with a domain's certificate when asked.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { DIRECTORY_FIXTURE_PATH } from '@postern/directory';
import { freePort } from './process';
import type { TestCertificate } from './tls';

/** What a stand-in saw of a request (its JSON answer). */
export interface SeenRequest {
  readonly server: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly bodyBytes: number;
  /** Over TLS: the SNI name the proxy sent (false: none). */
  readonly servername?: string | false;
}

export interface WebStandIn {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and drops its connections. */
  stop(): Promise<void>;
}

export interface WebStandInOptions {
  /** Serve HTTPS with this certificate (a mailbox server's own, as with zimbraReverseProxySSLToUpstreamEnabled). */
  readonly tls?: TestCertificate | undefined;
  /** This port rather than a free one. */
  readonly port?: number;
}

/**
 * Starts a stand-in called `name` on `host` (a free port). Upgrades: `/ws-echo` is a real
 * WebSocket server (ws) echoing each message; `/ws-stubborn` answers 101 and then ignores the
 * client's half-close (it never closes its own side); any other path answers 101 and sends every
 * byte back.
 */
export async function startWebStandIn(name: string, host: string, options: WebStandInOptions = {}): Promise<WebStandIn> {
  const port = options.port ?? (await freePort(host));
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    if (/\/die$/.test(request.url ?? '')) {
      // Dies mid-answer: a promise of 1000 bytes, 10 sent, then the connection is cut.
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 1000, 'X-Served-By': name });
      response.write(Buffer.alloc(10, 1), () => request.socket.destroy());
      return;
    }
    const big = /\/big\?n=(\d+)$/.exec(request.url ?? '');
    if (big && request.method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Served-By': name });
      let left = Number(big[1]);
      const chunk = Buffer.alloc(64 * 1024, 7);
      const more = () => {
        while (left > 0) {
          const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= part.length;
          if (!response.write(part)) return void response.once('drain', more);
        }
        response.end();
      };
      return more();
    }
    if (/\/page\.html$/.test(request.url ?? '')) {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'X-Served-By': name });
      return void response.end(`<!doctype html><title>${name}</title><p id="served">${name}</p>\n`);
    }
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    request.on('end', () => {
      const socket = request.socket as Socket & { servername?: string | false };
      const seen: SeenRequest = {
        server: name,
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        bodyBytes,
        ...(options.tls ? { servername: socket.servername ?? false } : {}),
      };
      // A hop-by-hop header of its own (named in Connection), which no client should see.
      response.writeHead(200, { 'Content-Type': 'application/json', Connection: 'keep-alive, X-Internal', 'X-Internal': 'secret', 'X-Served-By': name });
      response.end(`${JSON.stringify(seen)}\n`);
    });
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler) : createServer(handler);
  const websockets = new WebSocketServer({ noServer: true });
  websockets.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (/^\/ws-echo(?:\?|$)/.test(request.url ?? ''))
      return websockets.handleUpgrade(request, socket, head, (ws) => websockets.emit('connection', ws, request));
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${request.headers.upgrade ?? 'websocket'}\r\nConnection: Upgrade\r\nX-Served-By: ${name}\r\nX-Seen-Forwarded-For: ${String(request.headers['x-forwarded-for'] ?? '')}\r\n\r\n`,
    );
    if (/^\/ws-stubborn(?:\?|$)/.test(request.url ?? '')) {
      // Reads and drops; its own half stays open whatever the client does.
      socket.on('data', () => undefined);
      socket.on('end', () => undefined);
      return;
    }
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    name,
    host,
    port,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const ws of websockets.clients) ws.terminate();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The DN of the fixture's example.com domain (virtual hosts mail.example.com, webmail.example.com). */
export const EXAMPLE_DOMAIN_DN = 'dc=example.com,ou=domains,dc=postern,dc=test';

/**
 * `fixture` (default: the directory fixture) with each named server entry's `zimbraMailPort` set,
 * and, when given, a certificate and key (PEM) on the example.com domain.
 */
export function directoryWithWebPorts(
  ports: Partial<Record<'mbox1' | 'mbox2', number>>,
  options: {
    fixture?: string;
    exampleCertificate?: { certPem: string; keyPem: string };
    /** The port attribute written: `zimbraMailSSLPort` for stand-ins reached over TLS. Default `zimbraMailPort`. */
    attribute?: 'zimbraMailPort' | 'zimbraMailSSLPort';
  } = {},
): string {
  const attribute = options.attribute ?? 'zimbraMailPort';
  const text = options.fixture ?? readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8');
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  return text
    .split(/\r?\n(?:[ \t]*\r?\n)+/)
    .map((record) => {
      const certificate = options.exampleCertificate;
      if (certificate && record.includes(`dn: ${EXAMPLE_DOMAIN_DN}`)) {
        const b64 = (pem: string) => Buffer.from(pem).toString('base64');
        return `${record}${eol}zimbraSSLCertificate:: ${b64(certificate.certPem)}${eol}zimbraSSLPrivateKey:: ${b64(certificate.keyPem)}`;
      }
      const name = /^dn: cn=(mbox1|mbox2),cn=servers,/m.exec(record)?.[1] as 'mbox1' | 'mbox2' | undefined;
      const port = name ? ports[name] : undefined;
      if (port === undefined) return record;
      const kept = record.split(/\r?\n/).filter((line) => !line.toLowerCase().startsWith(`${attribute.toLowerCase()}:`));
      return [...kept, `${attribute}: ${port}`].join(eol);
    })
    .join(`${eol}${eol}`);
}

/** A `ZM_AUTH_TOKEN` value for the account `id`, in Zimbra's form (`<keyver>_<hmac>_<hex of id=…;exp=…>`). */
export function authTokenFor(id: string): string {
  const data = `id=${id.length}:${id};exp=13:1900000000000;type=6:zimbra;`;
  return `0_0123456789abcdef_${Buffer.from(data, 'latin1').toString('hex')}`;
}
