/**
 * The Node reverse proxies people would pick instead of Postern, one per process, each as its
 * documentation sets it up, with keep-alive to the one origin: @fastify/http-proxy (fastify, its
 * undici pool), fast-proxy (its undici pool), http-proxy and httpxy (a keep-alive `http.Agent`).
 * Each adds X-Forwarded-For, as Postern does. No routing, no logging. With --cert/--key it also listens with TLS, the same certificate.
 *
 *   node --import tsx node-proxy.main.ts --kind fastify|fast-proxy|http-proxy|httpxy --origin 127.0.0.2:8080 [--cert c.pem --key k.pem]
 *
 * It announces `tls <port>` (with TLS), then `ready <port>` (plain). bench:web measures them in
 * the same run as Postern.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Agent, createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { parseArgs } from 'node:util';
import fastifyHttpProxy from '@fastify/http-proxy';
import fastify, { type FastifyInstance } from 'fastify';
import httpProxy from 'http-proxy';
import { createProxyServer as createHttpxy } from 'httpxy';
import { announceReady } from './ts-child';

/** fast-proxy ships no types: the one call made here. */
type FastProxy = (options: { base: string; undici: object }) => {
  proxy(request: IncomingMessage, response: ServerResponse, source: string, options: object): void;
};
const fastProxy = createRequire(__filename)('fast-proxy') as FastProxy;

const KINDS = ['fastify', 'fast-proxy', 'http-proxy', 'httpxy'] as const;
type Kind = (typeof KINDS)[number];

const { values } = parseArgs({ options: { kind: { type: 'string' }, origin: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
const kind = values.kind as Kind;
if (!KINDS.includes(kind)) throw new Error(`node-proxy: --kind is one of ${KINDS.join(', ')}`);
if (!values.origin) throw new Error('node-proxy: --origin host:port is required');
const origin = `http://${values.origin}`;
/** Kept-alive connections to the origin, as Postern, nginx (keepalive 64) and the floors have. */
const CONNECTIONS = 64;
const tls = values.cert && values.key ? { cert: readFileSync(values.cert), key: readFileSync(values.key) } : undefined;

const listenOn = { host: '127.0.0.1', port: 0, backlog: 4096 };

/** A node:http(s) server around a request handler (fast-proxy, http-proxy, httpxy). */
async function serveWith(handler: RequestListener): Promise<void> {
  const listen = (server: Server) => new Promise<number>((resolve) => server.listen(listenOn, () => resolve((server.address() as AddressInfo).port)));
  if (tls) process.stdout.write(`tls ${await listen(createTlsServer({ ...tls, noDelay: true }, handler))}\n`);
  announceReady(await listen(createServer({ noDelay: true }, handler)));
}

async function main(): Promise<void> {
  switch (kind) {
    case 'fastify': {
      const start = async (https?: { cert: Buffer; key: Buffer }) => {
        const app: FastifyInstance = https ? fastify({ logger: false, https }) : fastify({ logger: false });
        await app.register(fastifyHttpProxy, {
          upstream: origin,
          undici: { connections: CONNECTIONS, pipelining: 1 },
          replyOptions: { rewriteRequestHeaders: (request: { ip: string }, headers: object) => ({ ...headers, 'x-forwarded-for': request.ip }) },
        });
        await app.listen(listenOn);
        return (app.server.address() as AddressInfo).port;
      };
      if (tls) process.stdout.write(`tls ${await start(tls)}\n`);
      return announceReady(await start());
    }
    case 'fast-proxy': {
      const fast = fastProxy({ base: origin, undici: { connections: CONNECTIONS, pipelining: 1 } });
      const rewriteRequestHeaders = (request: IncomingMessage, headers: object) => ({ ...headers, 'x-forwarded-for': request.socket.remoteAddress });
      return serveWith((request, response) => fast.proxy(request, response, request.url ?? '/', { rewriteRequestHeaders }));
    }
    case 'http-proxy': {
      const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS });
      const proxy = httpProxy.createProxyServer({ target: origin, agent, xfwd: true });
      proxy.on('error', (_error, _request, response) => fail(response as ServerResponse));
      return serveWith((request, response) => proxy.web(request, response));
    }
    case 'httpxy': {
      const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS });
      const proxy = createHttpxy({ target: origin, agent, xfwd: true });
      return serveWith((request: IncomingMessage, response: ServerResponse) => void proxy.web(request, response).catch(() => fail(response)));
    }
  }
}

function fail(response: ServerResponse): void {
  if (!response.headersSent) response.writeHead(502).end();
  else response.destroy();
}

void main();
