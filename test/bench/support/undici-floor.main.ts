/**
 * The floor of the parts issue 27 keeps: Node's own HTTP server facing clients and undici toward
 * the mailbox server. node:http's server, one undici `Pool` to one fixed origin with the options
 * Postern's carrier gives its pools (64 connections, 30 s keep-alive), and `dispatch` with a
 * handler that writes the answer straight to the client's response, as Postern's does. The
 * request's method, path and headers are passed on with X-Forwarded-For added; nothing else: no
 * routing, no hop-by-hop filtering, no logging, no metrics. With --cert/--key it also listens with TLS.
 *
 *   node --import tsx undici-floor.main.ts --origin 127.0.0.2:8080 [--cert c.pem --key k.pem]
 *
 * It announces `tls <port>` (with TLS), then `ready <port>` (plain). Whatever Postern costs per
 * request beyond this is Postern's own; whatever this costs beyond the lean relay is the price of
 * the mandated parts. Not a proxy anyone should deploy.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import { keepTickShapes } from '@postern/service-kit/tick-shapes';
import { announceReady } from './ts-child';

// As every Postern process does: nextTick keeps V8's fast path however long the floor runs.
keepTickShapes();

const { values } = parseArgs({ options: { origin: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
if (!values.origin) throw new Error('undici-floor: --origin host:port is required');

// The options of Postern's pools (apps/web-proxy/src/upstream-carrier.ts).
const pool = new Pool(`http://${values.origin}`, { connections: 64, keepAliveTimeout: 30_000 });

/** The answer, from undici's callbacks to the client's response; the upstream waits while the client's side is full. */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;

  constructor(private readonly response: ServerResponse) {
    // A client that leaves mid-answer ends the request upstream, as Postern's carrier does: a
    // paused answer would otherwise hold its connection for good.
    response.on('close', () => {
      if (!response.writableFinished) this.controller?.abort(new Error('client closed the connection'));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // Passed as they come: the origin's Connection/Keep-Alive say what Node's response would say anyway.
    this.response.writeHead(statusCode, headers as Record<string, string | string[]>);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.response.write(chunk) && !this.controller!.paused) {
      this.controller!.pause();
      this.response.once('drain', () => this.controller!.resume());
    }
  }

  onResponseEnd(): void {
    this.response.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, _error: Error): void {
    if (this.response.destroyed) return;
    if (!this.response.headersSent) this.response.writeHead(502).end();
    else this.response.destroy();
  }
}

function relay(incoming: IncomingMessage, response: ServerResponse): void {
  const headers = incoming.rawHeaders.slice();
  headers.push('X-Forwarded-For', incoming.socket.remoteAddress ?? '');
  const withBody = incoming.headers['content-length'] !== undefined || incoming.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: incoming.method ?? 'GET', path: incoming.url ?? '/', headers, body: withBody ? incoming : null }, new Relay(response));
}

const listenOn = { host: '127.0.0.1', port: 0, backlog: 4096 };
const listen = (server: Server) => new Promise<number>((resolve) => server.listen(listenOn, () => resolve((server.address() as AddressInfo).port)));

async function main(): Promise<void> {
  if (values.cert && values.key) {
    const secure = createTlsServer({ cert: readFileSync(values.cert), key: readFileSync(values.key), noDelay: true }, relay);
    process.stdout.write(`tls ${await listen(secure)}\n`);
  }
  announceReady(await listen(createServer({ noDelay: true }, relay)));
}
void main();
