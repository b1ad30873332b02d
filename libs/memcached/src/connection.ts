/**
 * One TCP connection to one memcached server, as the client uses it: requests written in order
 * (a turn's commands in one write, neighbouring plain gets merged into one multi-key `get`) and
 * replies paired with them FIFO. The client decides which server and when a server is dead.
 */
import { connect, type Socket } from 'node:net';
import { itemsByKey, type Command } from './commands';
import { CacheProtocolError } from './errors';
import { MAX_MERGED_GET_LINE_BYTES } from './limits';
import { ReplyParser, type Reply, type ValueItem } from './reply-parser';

/** One configured server and its state. */
export interface Endpoint {
  readonly index: number;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Epoch ms before which the server is skipped. */
  deadUntil: number;
  down: boolean;
  lastError: Error | null;
  connection: Connection | null;
}

/** An operation waiting for its reply. */
export interface PendingRequest {
  readonly key: string;
  readonly command: Command<unknown>;
  /** A plain `get`: may share one multi-key `get` line with its neighbours. */
  readonly mergeableGet: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  connection: Connection | null;
}

export interface ConnectionHooks {
  /** The connection is established. */
  connected(endpoint: Endpoint): void;
  /** The connection is gone (called exactly once); `pending` were never answered. */
  finished(connection: Connection, error: Error | null, pending: PendingRequest[], options: { markDead: boolean }): void;
}

/** One TCP connection to one server, with its FIFO of requests awaiting a reply. */
export class Connection {
  readonly queue: PendingRequest[] = [];
  /** Per reply still expected, oldest first: how many requests at the head of {@link queue} it answers. */
  private readonly replyGroups: number[] = [];
  /** Requests queued in this tick and not yet written, in queue order. */
  private outgoing: PendingRequest[] = [];
  connected = false;
  closing = false;
  private done = false;
  private error: Error | null = null;
  private markDeadOnFinish = true;
  private readonly parser = new ReplyParser();
  private readonly socket: Socket;
  private readonly connectTimer: ReturnType<typeof setTimeout>;
  private readonly closeWaiters: (() => void)[] = [];

  /** Writes the requests queued in this tick: one write, each run of plain gets as one `get` line. */
  private readonly flush = (): void => {
    const batch = this.outgoing;
    this.outgoing = [];
    // A connection finished in the meantime has handed its requests on (or failed them).
    if (this.done || batch.length === 0) return;
    const chunks: Buffer[] = [];
    for (let start = 0; start < batch.length;) {
      const first = batch[start]!;
      let end = start + 1;
      if (first.mergeableGet) {
        // `get k1 k2 …\r\n`: each further key adds a space and itself (keys are ASCII).
        let length = 'get \r\n'.length + first.key.length;
        while (end < batch.length && batch[end]!.mergeableGet && length + 1 + batch[end]!.key.length <= MAX_MERGED_GET_LINE_BYTES) {
          length += 1 + batch[end]!.key.length;
          end++;
        }
      }
      chunks.push(end - start === 1 ? first.command.bytes : mergedGet(batch, start, end));
      this.replyGroups.push(end - start);
      start = end;
    }
    this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  };

  constructor(
    readonly endpoint: Endpoint,
    connectTimeoutMs: number,
    private readonly hooks: ConnectionHooks,
  ) {
    this.socket = connect({ host: endpoint.host, port: endpoint.port });
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail(new Error(`connect timed out after ${connectTimeoutMs} ms`), true), connectTimeoutMs);
    this.socket.once('connect', () => {
      clearTimeout(this.connectTimer);
      this.connected = true;
      hooks.connected(endpoint);
      if (this.closing && this.queue.length === 0) this.socket.end();
    });
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    this.socket.on('error', (error) => {
      this.error ??= error;
    });
    // No reply can follow the peer's FIN: fail now rather than let new requests queue behind it.
    this.socket.on('end', () => this.finish());
    this.socket.on('close', () => this.finish());
  }

  send(request: PendingRequest): void {
    request.connection = this;
    this.queue.push(request);
    // One write per command was one syscall per command: most of a throttle check's CPU. The
    // commands issued in one turn of the event loop go out as one: not only a check's own reads,
    // but those of every session whose socket was readable in that turn (setImmediate runs once
    // the turn's I/O callbacks are done, without waiting for a timer). Under load that is several
    // logins' commands per write, and their replies come back in one read.
    if (this.outgoing.length === 0) setImmediate(this.flush);
    this.outgoing.push(request);
  }

  /** Resets the connection; `markDead` says whether the server is to blame. */
  fail(error: Error, markDead: boolean): void {
    this.error ??= error;
    this.markDeadOnFinish = markDead;
    this.finish();
  }

  close(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    if (this.queue.length === 0) {
      if (this.connected) this.socket.end();
      else this.finish();
    }
    return closed;
  }

  private data(chunk: Buffer): void {
    let replies: Reply[];
    try {
      replies = this.parser.feed(chunk);
    } catch (error) {
      const protocolError = error instanceof Error ? error : new CacheProtocolError(String(error));
      // The reply being read belonged to the oldest request(s); the others cannot be paired any more.
      for (const request of this.queue.splice(0, this.replyGroups.shift() ?? 1)) settle(request, false, protocolError);
      this.fail(protocolError, false);
      return;
    }
    for (const reply of replies) {
      const size = this.replyGroups.shift();
      if (size === undefined) {
        this.fail(new CacheProtocolError('reply received with no request outstanding'), false);
        return;
      }
      const reset = size === 1 ? answer(this.queue.shift()!, reply) : answerMerged(this.queue.splice(0, size), reply);
      if (reset !== null) {
        this.fail(reset, false);
        return;
      }
    }
    if (this.closing && this.queue.length === 0) this.socket.end();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.outgoing = [];
    this.replyGroups.length = 0;
    clearTimeout(this.connectTimer);
    this.socket.destroy();
    const pending = this.queue.splice(0);
    for (const request of pending) request.connection = null;
    this.hooks.finished(this, this.error, pending, { markDead: this.markDeadOnFinish });
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}

/** Settles `request` with its reply; returns the error that must reset the connection, if any. */
function answer(request: PendingRequest, reply: Reply): CacheProtocolError | null {
  request.connection = null;
  const outcome = request.command.interpret(reply);
  if (outcome.ok) {
    settle(request, true, outcome.value);
    return null;
  }
  settle(request, false, outcome.error);
  return outcome.reset ? outcome.error : null;
}

const MISS: Reply = { type: 'values', items: [] };

/**
 * Settles the gets of one merged `get` line: each with the items of its own key, as if it had been
 * sent alone. Any other reply (an error) answers the line, so every get in it shares it.
 */
function answerMerged(group: readonly PendingRequest[], reply: Reply): CacheProtocolError | null {
  let reset: CacheProtocolError | null = null;
  if (reply.type !== 'values') {
    for (const request of group) {
      const error = answer(request, reply);
      reset ??= error;
    }
    return reset;
  }
  const items = itemsByRequest(group, reply.items);
  if (items === null) {
    const error = new CacheProtocolError('get: reply is for another key');
    for (const request of group) {
      request.connection = null;
      settle(request, false, error);
    }
    return error;
  }
  group.forEach((request, i) => {
    const item = items[i];
    const error = answer(request, item === undefined ? MISS : { type: 'values', items: [item] });
    reset ??= error;
  });
  return reset;
}

/** The item of each request's key (undefined: a miss), or null when an item matches no request. */
function itemsByRequest(group: readonly PendingRequest[], items: readonly ValueItem[]): (ValueItem | undefined)[] | null {
  return itemsByKey(
    group.map((request) => request.key),
    items,
  );
}

/** One `get` line for the requests `start` to `end` (exclusive) of `batch`. */
function mergedGet(batch: readonly PendingRequest[], start: number, end: number): Buffer {
  let line = 'get';
  for (let i = start; i < end; i++) line += ` ${batch[i]!.key}`;
  return Buffer.from(`${line}\r\n`, 'latin1');
}

export function settle(request: PendingRequest, ok: boolean, value: unknown): void {
  if (request.settled) return;
  request.settled = true;
  clearTimeout(request.timer);
  if (ok) request.resolve(value);
  else request.reject(value instanceof Error ? value : new Error(String(value)));
}
