/**
 * The platform's floor for an HTTP reverse proxy: what Node itself costs per request when a proxy
 * does nothing but relay. node:http's server, one keep-alive agent to one fixed origin, the
 * request's method, path and headers (plus X-Forwarded-For) passed on, both bodies piped. No
 * routing, no header rules, no logging, no metrics. With --cert/--key it also listens with TLS.
 * A third listener answers every request itself with the origin's small body: Node's HTTP server
 * alone, the ceiling any proxy built on it stays under.
 *
 *   node --import tsx web-floor.main.ts --origin 127.0.0.2:8080 [--cert c.pem --key k.pem]
 *
 * It announces `self <port>` (the ceiling), `tls <port>` (with TLS), then `ready <port>` (the relay).
 * bench:web runs it beside Postern, nginx and HAProxy so that what Node costs per request and
 * what Postern adds to it are measured in the same run. Not a proxy anyone should deploy.
 */
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { keepTickShapes } from '@postern/service-kit/tick-shapes';
import { announceReady } from './ts-child';

// As every Postern process does: nextTick keeps V8's fast path however long the floor runs.
keepTickShapes();

const { values } = parseArgs({ options: { origin: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
const [host, port] = (values.origin ?? '').split(':');
if (!host || !port) throw new Error('web-floor: --origin host:port is required');

const agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });

function relay(incoming: IncomingMessage, response: ServerResponse): void {
  const headers = { ...incoming.headers, 'x-forwarded-for': incoming.socket.remoteAddress ?? '' };
  const upstream = request({ host, port: Number(port), method: incoming.method, path: incoming.url, headers, agent }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.on('error', () => response.destroy());
    answer.pipe(response);
  });
  upstream.on('error', () => {
    if (!response.headersSent) response.writeHead(502).end();
    else response.destroy();
  });
  // A client that leaves mid-answer (wrk stopping during a 1 MB one) ends the request upstream: the
  // answer would otherwise stay paused on its socket, which the agent never gets back, and once
  // 64 are held, every later request waits for one.
  response.on('close', () => {
    if (!response.writableFinished) upstream.destroy();
  });
  incoming.pipe(upstream);
}

const plain = createServer({ noDelay: true }, relay);
const listening = (server: { listen: typeof plain.listen; address: typeof plain.address }) =>
  new Promise<number>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve((server.address() as AddressInfo).port)));

const SMALL_BODY = 'hello from mbox1\n';
const itself = createServer({ noDelay: true }, (_incoming, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL_BODY.length });
  response.end(SMALL_BODY);
});

async function main(): Promise<void> {
  process.stdout.write(`self ${await listening(itself)}\n`);
  if (values.cert && values.key) {
    const secure = createTlsServer({ cert: readFileSync(values.cert), key: readFileSync(values.key), noDelay: true }, relay);
    process.stdout.write(`tls ${await listening(secure)}\n`);
  }
  announceReady(await listening(plain));
}
void main();
