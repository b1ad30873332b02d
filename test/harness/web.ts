/**
 * Stand-ins for the mailbox servers' web ports: an HTTP server on a mailbox host's address that
 * answers every request with what it saw (which server, method, target, headers, body size) as
 * JSON, streams `n` bytes for `GET …/big?n=N`, or dies after 10 bytes of 1000 for `GET …/die`. And the directory fixture rewritten so each
 * server entry's `zimbraMailPort` is its stand-in's, with a domain's certificate when asked.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { DIRECTORY_FIXTURE_PATH } from '@postern/directory';
import { freePort } from './process';

/** What a stand-in saw of a request (its JSON answer). */
export interface SeenRequest {
  readonly server: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly bodyBytes: number;
}

export interface WebStandIn {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and drops its connections. */
  stop(): Promise<void>;
}

/** Starts a stand-in called `name` on `host` (a free port). */
export async function startWebStandIn(name: string, host: string): Promise<WebStandIn> {
  const port = await freePort(host);
  const server = createServer((request, response) => {
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
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    request.on('end', () => {
      const seen: SeenRequest = { server: name, method: request.method ?? '', url: request.url ?? '', headers: request.headers, bodyBytes };
      // A hop-by-hop header of its own (named in Connection), which no client should see.
      response.writeHead(200, { 'Content-Type': 'application/json', Connection: 'keep-alive, X-Internal', 'X-Internal': 'secret', 'X-Served-By': name });
      response.end(`${JSON.stringify(seen)}\n`);
    });
  });
  // An upgrade is accepted (101) and then every byte is sent back: a tunnel any client can check.
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${request.headers.upgrade ?? 'websocket'}\r\nConnection: Upgrade\r\nX-Served-By: ${name}\r\nX-Seen-Forwarded-For: ${String(request.headers['x-forwarded-for'] ?? '')}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    name,
    host,
    port,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
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
  options: { fixture?: string; exampleCertificate?: { certPem: string; keyPem: string } } = {},
): string {
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
      const kept = record.split(/\r?\n/).filter((line) => !/^zimbraMailPort:/i.test(line));
      return [...kept, `zimbraMailPort: ${port}`].join(eol);
    })
    .join(`${eol}${eol}`);
}

/** A `ZM_AUTH_TOKEN` value for the account `id`, in Zimbra's form (`<keyver>_<hmac>_<hex of id=…;exp=…>`). */
export function authTokenFor(id: string): string {
  const data = `id=${id.length}:${id};exp=13:1900000000000;type=6:zimbra;`;
  return `0_0123456789abcdef_${Buffer.from(data, 'latin1').toString('hex')}`;
}
