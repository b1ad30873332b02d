/**
 * A lean HTTP/1.1 relay on raw sockets: the floor of what a Node reverse proxy can cost per request
 * when it does the least a proxy must. `node:net` (and, with --cert/--key, `node:tls`) toward the
 * client; a pool of kept-alive `node:net` sockets to one fixed origin; the request head passed on
 * as it came with an X-Forwarded-For added; the response head read only for its Content-Length,
 * the body relayed with backpressure. Hand-parsed heads, enough for bench:web's GETs and the
 * origin's Content-Length answers: no request bodies, no chunked answers, no pipelining, no
 * smuggling defences. A floor to measure against, not a product.
 *
 *   node --import tsx lean-relay.main.ts --origin 127.0.0.2:8080 [--cert c.pem --key k.pem]
 *
 * It announces `tls <port>` (with TLS), then `ready <port>` (plain).
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { parseArgs } from 'node:util';
import { keepTickShapes } from '@postern/service-kit/tick-shapes';
import { announceReady } from './ts-child';

// As every Postern process does: nextTick keeps V8's fast path however long the floor runs.
keepTickShapes();

const { values } = parseArgs({ options: { origin: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
const [originHost, originPort] = (values.origin ?? '').split(':');
if (!originHost || !originPort) throw new Error('lean-relay: --origin host:port is required');

const END_OF_HEAD = Buffer.from('\r\n\r\n');
/** The longest head read before the connection is dropped (Node's own default). */
const MAX_HEAD = 16 * 1024;

/** An upstream connection, free in the pool or carrying one exchange. */
interface Upstream {
  readonly socket: Socket;
  /** The client the answer goes to now; undefined while idle. */
  client: Client | undefined;
}

const idle: Upstream[] = [];

function upstream(): Upstream {
  const reused = idle.pop();
  if (reused) return reused;
  const socket = connect({ host: originHost, port: Number(originPort), noDelay: true });
  const up: Upstream = { socket, client: undefined };
  socket.on('data', (chunk: Buffer) => up.client?.fromUpstream(chunk));
  socket.on('drain', () => up.client?.socket.resume());
  const gone = () => {
    const at = idle.indexOf(up);
    if (at >= 0) idle.splice(at, 1);
    up.client?.socket.destroy();
    up.client = undefined;
  };
  socket.on('error', gone);
  socket.on('close', gone);
  return up;
}

/** One client connection: one request at a time, each relayed over an upstream from the pool. */
class Client {
  private head: Buffer | undefined;
  private answer: Buffer | undefined;
  /** Body bytes of the current answer still to relay; -1 while its head is read. */
  private remaining = -1;
  private up: Upstream | undefined;
  private readonly forwardedFor: Buffer;

  constructor(readonly socket: Socket) {
    this.forwardedFor = Buffer.from(`X-Forwarded-For: ${socket.remoteAddress ?? ''}\r\n\r\n`, 'latin1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.fromClient(chunk));
    socket.on('drain', () => this.up?.socket.resume());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      // Mid-answer: the upstream cannot be reused, its answer is unread.
      if (this.up) this.up.socket.destroy();
    });
  }

  private fromClient(chunk: Buffer): void {
    this.head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    if (!this.up) this.next();
  }

  /** Starts the next request when its head is whole. */
  private next(): void {
    const head = this.head;
    if (!head) return;
    const end = head.indexOf(END_OF_HEAD);
    if (end < 0) {
      if (head.length > MAX_HEAD) this.socket.destroy();
      return;
    }
    this.head = end + 4 < head.length ? head.subarray(end + 4) : undefined;
    const up = (this.up = upstream());
    up.client = this;
    this.remaining = -1;
    // The head up to its last header line, then ours and the blank line.
    up.socket.write(Buffer.concat([head.subarray(0, end + 2), this.forwardedFor]));
  }

  fromUpstream(chunk: Buffer): void {
    if (this.remaining < 0) {
      this.answer = this.answer ? Buffer.concat([this.answer, chunk]) : chunk;
      const end = this.answer.indexOf(END_OF_HEAD);
      if (end < 0) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(this.answer.toString('latin1', 0, end + 2));
      if (!length) return void this.socket.destroy();
      this.remaining = Number(length[1]) - (this.answer.length - end - 4);
      chunk = this.answer;
      this.answer = undefined;
    } else {
      this.remaining -= chunk.length;
    }
    if (!this.socket.write(chunk)) this.up?.socket.pause();
    if (this.remaining <= 0) this.done();
  }

  /** The answer is relayed: its upstream goes back to the pool, the next request may start. */
  private done(): void {
    const up = this.up!;
    up.client = undefined;
    this.up = undefined;
    up.socket.resume();
    idle.push(up);
    this.next();
  }
}

const listenOn = { host: '127.0.0.1', port: 0, backlog: 4096 };
const listen = (server: Server) => new Promise<number>((resolve) => server.listen(listenOn, () => resolve((server.address() as AddressInfo).port)));

async function main(): Promise<void> {
  if (values.cert && values.key) {
    const secure = createTlsServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, (socket) => new Client(socket));
    process.stdout.write(`tls ${await listen(secure)}\n`);
  }
  announceReady(await listen(createServer({ noDelay: true }, (socket) => new Client(socket))));
}
void main();
