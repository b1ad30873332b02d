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
import {
  addCommand,
  casCommand,
  deleteCommand,
  getCommand,
  getManyCommand,
  getsCommand,
  incrCommand,
  setCommand,
  assertValidKey,
  type CacheValue,
  type CasResult,
  type Command,
} from './commands';
import { CacheArgumentError, CacheUnavailableError } from './errors';
import { Connection, settle, type ConnectionHooks, type Endpoint, type PendingRequest } from './connection';
import { HashRing } from './hash-ring';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RETRY_DEAD_SERVER_MS, DEFAULT_TIMEOUT_MS, MAX_MERGED_GET_LINE_BYTES } from './limits';

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
  /** Deadline of one operation, connect included (`zimbraReverseProxyCacheFetchTimeout`). Default {@link DEFAULT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Deadline of a TCP connect. Default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** How long a dead server is skipped before it is tried again (`zimbraReverseProxyCacheReconnectInterval`). Default {@link DEFAULT_RETRY_DEAD_SERVER_MS}. */
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

/** A memcached client over the text protocol with consistent hashing and dead-server skipping. */
export class MemcachedClient {
  private readonly endpoints: readonly Endpoint[];
  private readonly ring: HashRing;
  /** How long one operation may take before it fails (`zimbraReverseProxyCacheFetchTimeout`): no reply comes later than this. */
  readonly timeoutMs: number;
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

  /**
   * The values of `keys` (null for a miss), in their order: one command per server (split where a
   * line would grow past what memcached reads at once) instead of one per key, so a sliding
   * window's buckets cost one promise, one timer and one reply.
   * Rejects with {@link CacheKeyError} on an invalid key, before anything is sent.
   */
  async getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    if (this.closed) throw new CacheUnavailableError('the memcached client is closed');
    // Each key's server, then each server's keys cut into lines; every command is built (and its
    // keys checked) before any is sent.
    const now = Date.now();
    const usable = (i: number) => (this.endpoints[i]?.deadUntil ?? Infinity) <= now;
    const byServer = new Map<number, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const owner = this.ring.owner(keys[i]!, usable);
      if (owner === null) throw this.noServer();
      const indexes = byServer.get(owner);
      if (indexes) indexes.push(i);
      else byServer.set(owner, [i]);
    }
    const lines: { server: number; indexes: number[]; command: Command<(Buffer | null)[]> }[] = [];
    for (const [server, indexes] of byServer) {
      for (let start = 0; start < indexes.length;) {
        // `get k1 k2 …\r\n` within MAX_MERGED_GET_LINE_BYTES, as merged gets are.
        let length = 'get \r\n'.length + keys[indexes[start]!]!.length;
        let end = start + 1;
        while (end < indexes.length && length + 1 + keys[indexes[end]!]!.length <= MAX_MERGED_GET_LINE_BYTES) length += 1 + keys[indexes[end++]!]!.length;
        const part = start === 0 && end === indexes.length ? indexes : indexes.slice(start, end);
        lines.push({ server, indexes: part, command: getManyCommand(part.length === keys.length ? keys : part.map((i) => keys[i]!)) });
        start = end;
      }
    }
    // The common case, one server and one line: its answer is already in the order of `keys`.
    if (lines.length === 1) return this.runOn(this.endpoints[lines[0]!.server]!, lines[0]!.command);
    const answers = await Promise.all(lines.map((line) => this.runOn(this.endpoints[line.server]!, line.command)));
    const values = new Array<Buffer | null>(keys.length).fill(null);
    lines.forEach((line, k) => line.indexes.forEach((i, j) => (values[i] = answers[k]![j] ?? null)));
    return values;
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
    return this.runOn(endpoint, command);
  }

  private runOn<T>(endpoint: Endpoint, command: Command<T>): Promise<T> {
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
    // A multi-key get whose keys no longer share a server cannot move as one: it fails like a
    // server that did not answer, and the caller's own fallback applies.
    const keys = request.command.keys;
    if (keys && keys.some((key) => this.pick(key) !== endpoint)) {
      settle(request, false, new CacheUnavailableError('the keys of a multi-key get moved to different servers', { cause }));
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
