/**
 * A small memcached client for the text protocol over `node:net`, built for a routing cache shared
 * by every node: bounded time for every operation, ketama consistent hashing identical on every
 * node, and dead-server skipping that can be observed and tested.
 *
 * - One persistent connection per server, `setNoDelay(true)`, commands pipelined and answered FIFO.
 *   The commands issued in one tick go out in one write, and plain gets next to each other in it
 *   as one multi-key `get`: a syscall and a command per key were most of a throttle check's cost.
 * - Every operation has one deadline (`timeoutMs`, connect included). On expiry it rejects with
 *   {@link CacheUnavailableError}, the connection is reset (its other requests fail at once: their
 *   replies could no longer be paired) and the server is marked dead.
 * - A connect failure, a socket error or a timeout marks a server dead for `retryDeadServerMs`;
 *   meanwhile its keys go to the next live server clockwise on the ring, so losing a server costs
 *   cache misses only. Requests queued on a connection that never connected were never sent, so
 *   they move to the next live server instead of failing.
 * - When every server is dead, operations reject with {@link CacheUnavailableError} at once.
 */
import { connect, type Socket } from 'node:net';
import {
  addCommand,
  casCommand,
  deleteCommand,
  getCommand,
  getsCommand,
  incrCommand,
  setCommand,
  assertValidKey,
  type CacheValue,
  type CasResult,
  type Command,
} from './commands';
import { CacheArgumentError, CacheProtocolError, CacheUnavailableError } from './errors';
import { HashRing } from './hash-ring';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RETRY_DEAD_SERVER_MS, DEFAULT_TIMEOUT_MS, MAX_MERGED_GET_LINE_BYTES } from './limits';
import { ReplyParser, type Reply, type ValueItem } from './reply-parser';

/** What the client reports to an observer (metrics, logs). */
export interface CacheEvent {
  /**
   * `server-down`: a server was marked dead (once per outage; `error` says why).
   * `server-up`: a dead server answered a connect again.
   * `error`: a failure that did not take a server down (e.g. a protocol error that reset a connection).
   */
  readonly type: 'server-down' | 'server-up' | 'error';
  /** `host:port` as configured. */
  readonly server: string;
  readonly error?: Error;
}

/** Options of {@link MemcachedClient}. */
export interface MemcachedClientOptions {
  /**
   * Servers as `host:port` (IPv6 as `[addr]:port`). Every node must list the same servers spelled
   * identically (order does not matter) to place keys identically.
   */
  readonly servers: readonly string[];
  /** Deadline of one operation, connect included (`zimbraReverseProxyCacheFetchTimeout`). Default 3000. */
  readonly timeoutMs?: number;
  /** Deadline of a TCP connect. Default 1000. */
  readonly connectTimeoutMs?: number;
  /** How long a dead server is skipped before it is tried again (`zimbraReverseProxyCacheReconnectInterval`). Default 60000. */
  readonly retryDeadServerMs?: number;
  /** Observer for server state changes and errors; exceptions it throws are ignored. */
  readonly onEvent?: (event: CacheEvent) => void;
}

/** State of one server, for tests and operations. */
export interface ServerStatus {
  readonly address: string;
  readonly state: 'up' | 'down';
  /** When a dead server will be tried again (epoch ms); null while up. */
  readonly retryAt: number | null;
  readonly connected: boolean;
  /** Requests sent and not yet answered. */
  readonly pending: number;
}

interface Endpoint {
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

interface PendingRequest {
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

/** A memcached client over the text protocol with consistent hashing and dead-server skipping. */
export class MemcachedClient {
  private readonly endpoints: readonly Endpoint[];
  private readonly ring: HashRing;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retryDeadServerMs: number;
  private readonly onEvent: ((event: CacheEvent) => void) | undefined;
  private readonly hooks: ConnectionHooks = {
    connected: (endpoint) => this.serverAnswered(endpoint),
    finished: (connection, error, pending, options) => this.connectionFinished(connection, error, pending, options),
  };
  private closed = false;

  /** @throws {CacheArgumentError} on an empty or malformed server list or invalid timeouts. */
  constructor(options: MemcachedClientOptions) {
    // Checked as unknown: Array.isArray would narrow the typed list to any[] for the rest of the constructor.
    const servers: unknown = options.servers;
    if (!Array.isArray(servers) || servers.length === 0) throw new CacheArgumentError('servers must list at least one host:port');
    const seen = new Set<string>();
    this.endpoints = options.servers.map((address, index) => {
      if (seen.has(address)) throw new CacheArgumentError(`server ${address} is listed twice`);
      seen.add(address);
      return { index, address, ...parseAddress(address), deadUntil: 0, down: false, lastError: null, connection: null };
    });
    this.ring = new HashRing(this.endpoints.map((e) => e.address));
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.retryDeadServerMs = positive('retryDeadServerMs', options.retryDeadServerMs ?? DEFAULT_RETRY_DEAD_SERVER_MS);
    this.onEvent = options.onEvent;
  }

  /** The value of `key`, or null on a miss. @throws {CacheKeyError} synchronously on an invalid key. */
  get(key: string): Promise<Buffer | null> {
    return this.run(getCommand(key));
  }

  /** The value and CAS token of `key`, or null on a miss. */
  gets(key: string): Promise<{ value: Buffer; cas: string } | null> {
    return this.run(getsCommand(key));
  }

  /**
   * Stores `value` unconditionally. `ttlSeconds`: 0 never expires; above 30 days it is sent as an
   * absolute time (memcached's rule), which assumes the server's clock agrees with ours.
   * @throws {CacheKeyError} / {@link CacheArgumentError} synchronously on an invalid key, TTL or a value over 1 MiB.
   */
  set(key: string, value: CacheValue, ttlSeconds: number): Promise<void> {
    return this.run(setCommand(key, value, ttlSeconds));
  }

  /** Stores `value` only if `key` does not exist: false on `NOT_STORED`. */
  add(key: string, value: CacheValue, ttlSeconds: number): Promise<boolean> {
    return this.run(addCommand(key, value, ttlSeconds));
  }

  /** Adds `delta` to a decimal counter: the new value, or null when the key does not exist. */
  incr(key: string, delta: number): Promise<number | null> {
    return this.run(incrCommand(key, delta));
  }

  /** Deletes `key`: false when it did not exist. */
  delete(key: string): Promise<boolean> {
    return this.run(deleteCommand(key));
  }

  /** Stores `value` only if `key` still carries `casToken` (from {@link gets}). */
  cas(key: string, value: CacheValue, ttlSeconds: number, casToken: string): Promise<CasResult> {
    return this.run(casCommand(key, value, ttlSeconds, casToken));
  }

  /**
   * The server an operation on `key` would use now (the ring owner, or the next live one clockwise).
   * @throws {CacheUnavailableError} when every server is dead.
   */
  serverFor(key: string): string {
    assertValidKey(key);
    const endpoint = this.pick(key);
    if (endpoint === null) throw this.noServer();
    return endpoint.address;
  }

  /** The state of every server, in configuration order. */
  servers(): ServerStatus[] {
    return this.endpoints.map((e) => ({
      address: e.address,
      state: e.down ? 'down' : 'up',
      retryAt: e.down ? e.deadUntil : null,
      connected: e.connection?.connected ?? false,
      pending: e.connection?.queue.length ?? 0,
    }));
  }

  /**
   * Stops accepting operations, lets outstanding ones finish (each is bounded by `timeoutMs`) and
   * closes every connection.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.endpoints.flatMap((e) => (e.connection ? [e.connection.close()] : [])));
  }

  private run<T>(command: Command<T>): Promise<T> {
    if (this.closed) return Promise.reject(new CacheUnavailableError('the memcached client is closed'));
    const endpoint = this.pick(command.key);
    if (endpoint === null) return Promise.reject(this.noServer());
    return new Promise<T>((resolve, reject) => {
      const request: PendingRequest = {
        key: command.key,
        command,
        mergeableGet: command.mergeableGet === true,
        resolve: resolve as (value: unknown) => void,
        reject,
        settled: false,
        timer: undefined,
        connection: null,
      };
      request.timer = setTimeout(() => this.timedOut(request), this.timeoutMs);
      this.send(endpoint, request);
    });
  }

  private pick(key: string): Endpoint | null {
    const now = Date.now();
    const index = this.ring.owner(key, (i) => (this.endpoints[i]?.deadUntil ?? Infinity) <= now);
    return index === null ? null : (this.endpoints[index] ?? null);
  }

  private noServer(): CacheUnavailableError {
    const last = this.endpoints.reduce<Endpoint | undefined>((a, e) => (a === undefined || e.deadUntil > a.deadUntil ? e : a), undefined);
    return new CacheUnavailableError(`all ${this.endpoints.length} memcached servers are down`, { cause: last?.lastError ?? undefined });
  }

  private send(endpoint: Endpoint, request: PendingRequest): void {
    let connection = endpoint.connection;
    if (connection === null) {
      connection = new Connection(endpoint, this.connectTimeoutMs, this.hooks);
      endpoint.connection = connection;
    }
    connection.send(request);
  }

  private timedOut(request: PendingRequest): void {
    if (request.settled) return;
    const connection = request.connection;
    const server = connection?.endpoint.address;
    const cause = new Error(`no reply within ${this.timeoutMs} ms`);
    settle(request, false, new CacheUnavailableError(`memcached ${server ?? ''} did not answer within ${this.timeoutMs} ms`, { cause, server }));
    // The late reply would be paired with the next request: the connection must go.
    connection?.fail(cause, true);
  }

  private serverAnswered(endpoint: Endpoint): void {
    if (!endpoint.down) return;
    endpoint.down = false;
    endpoint.deadUntil = 0;
    this.emit({ type: 'server-up', server: endpoint.address });
  }

  private connectionFinished(connection: Connection, error: Error | null, pending: PendingRequest[], options: { markDead: boolean }): void {
    const { endpoint } = connection;
    if (endpoint.connection === connection) endpoint.connection = null;
    if (connection.closing) {
      for (const request of pending) settle(request, false, new CacheUnavailableError('the memcached client is closed', { server: endpoint.address }));
      return;
    }
    const reason = error ?? new Error('connection closed by the server');
    if (!connection.connected) {
      this.markDead(endpoint, reason);
      // Nothing was sent on a connection that never connected: the next live server can take it.
      for (const request of pending) this.redispatch(request, reason);
      return;
    }
    if (options.markDead && (error !== null || pending.length > 0)) this.markDead(endpoint, reason);
    else if (error !== null) this.emit({ type: 'error', server: endpoint.address, error });
    for (const request of pending) {
      settle(request, false, new CacheUnavailableError(`connection to memcached ${endpoint.address} was reset`, { cause: reason, server: endpoint.address }));
    }
  }

  private redispatch(request: PendingRequest, cause: Error): void {
    if (request.settled) return;
    const endpoint = this.closed ? null : this.pick(request.key);
    if (endpoint === null) {
      settle(request, false, new CacheUnavailableError('no memcached server is available', { cause }));
      return;
    }
    this.send(endpoint, request);
  }

  private markDead(endpoint: Endpoint, error: Error): void {
    endpoint.deadUntil = Date.now() + this.retryDeadServerMs;
    endpoint.lastError = error;
    if (endpoint.down) return;
    endpoint.down = true;
    this.emit({ type: 'server-down', server: endpoint.address, error });
  }

  private emit(event: CacheEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // An observer must not be able to break the cache.
    }
  }
}

interface ConnectionHooks {
  /** The connection is established. */
  connected(endpoint: Endpoint): void;
  /** The connection is gone (called exactly once); `pending` were never answered. */
  finished(connection: Connection, error: Error | null, pending: PendingRequest[], options: { markDead: boolean }): void;
}

/** One TCP connection to one server, with its FIFO of requests awaiting a reply. */
class Connection {
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
    for (let start = 0; start < batch.length; ) {
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
    // commands issued in one tick (a check's reads, every check of a NATS read) go out as one.
    if (this.outgoing.length === 0) process.nextTick(this.flush);
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

/**
 * The item of each request's key (undefined: a miss), or null when an item matches no request.
 * memcached answers hits in the order of the keys; a peer that reorders them is looked through.
 */
function itemsByRequest(group: readonly PendingRequest[], items: readonly ValueItem[]): (ValueItem | undefined)[] | null {
  const found = new Array<ValueItem | undefined>(group.length);
  let next = 0;
  for (const item of items) {
    let i = next;
    while (i < group.length && (group[i]!.key !== item.key || found[i] !== undefined)) i++;
    if (i === group.length) i = group.findIndex((request, j) => request.key === item.key && found[j] === undefined);
    if (i === -1) return null;
    found[i] = item;
    next = i + 1;
  }
  return found;
}

/** One `get` line for the requests `start` to `end` (exclusive) of `batch`. */
function mergedGet(batch: readonly PendingRequest[], start: number, end: number): Buffer {
  let line = 'get';
  for (let i = start; i < end; i++) line += ` ${batch[i]!.key}`;
  return Buffer.from(`${line}\r\n`, 'latin1');
}

function settle(request: PendingRequest, ok: boolean, value: unknown): void {
  if (request.settled) return;
  request.settled = true;
  clearTimeout(request.timer);
  if (ok) request.resolve(value);
  else request.reject(value instanceof Error ? value : new Error(String(value)));
}

function parseAddress(address: string): { host: string; port: number } {
  const match = typeof address === 'string' ? /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(address) : null;
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (match === null || host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CacheArgumentError(`server ${JSON.stringify(address)} is not host:port`);
  }
  return { host, port };
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new CacheArgumentError(`${name} must be a positive integer of milliseconds`);
  return value;
}
