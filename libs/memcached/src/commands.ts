/**
 * Encoding of memcached text-protocol commands (memcached `doc/protocol.txt`) and interpretation of
 * their replies. Pure: no I/O. Keys are validated, never escaped; values are length-prefixed by the
 * protocol and therefore binary-safe.
 */
import { CacheArgumentError, CacheKeyError, CacheProtocolError } from './errors';
import { MAX_CAS_DIGITS, MAX_KEY_BYTES, MAX_RELATIVE_TTL_SECONDS, MAX_VALUE_BYTES } from './limits';
import { printable, type Reply, type ValueItem } from './reply-parser';

const CRLF = Buffer.from('\r\n', 'latin1');
const CAS_PATTERN = new RegExp(`^[0-9]{1,${MAX_CAS_DIGITS}}$`);
/** memcached counters are unsigned 64-bit; the JS side stays exact only up to 2^53 - 1. */
const MAX_DELTA = Number.MAX_SAFE_INTEGER;

/** Result of a conditional write with a CAS token. */
export type CasResult = 'stored' | 'exists' | 'not_found';

/** A value as stored: bytes, or a string sent as UTF-8. */
export type CacheValue = Buffer | Uint8Array | string;

/**
 * Interpretation of a reply: a result, or a protocol error. `reset` says the request/reply pairing
 * can no longer be trusted (a reply no command of this kind can produce), so the connection must go.
 */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CacheProtocolError; readonly reset: boolean };

/** An encoded command and how to read its reply. */
export interface Command<T> {
  /** The key that places the command on a server (the first, for a multi-key get). */
  readonly key: string;
  /** Every key of a multi-key get: all on the server that {@link key} picked. */
  readonly keys?: readonly string[];
  readonly bytes: Buffer;
  readonly interpret: (reply: Reply) => Outcome<T>;
  /**
   * Set on a plain `get`: the connection may send it within one multi-key `get` with the gets
   * next to it, and hands this command the part of the reply that is its key's.
   */
  readonly mergeableGet?: true;
}

/** Throws {@link CacheKeyError} unless `key` is 1..250 bytes of `[A-Za-z0-9:._-]`. */
export function assertValidKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !isValidKey(key)) {
    const shown = typeof key === 'string' ? `${key.length} characters` : typeof key;
    throw new CacheKeyError(`cache key must be 1..${MAX_KEY_BYTES} bytes of [A-Za-z0-9:._-] (got ${shown}); build keys with cacheKey()`);
  }
}

/** `[A-Za-z0-9:._-]{1,250}`, without a regular expression: every command checks its key, a throttle check has dozens. */
function isValidKey(key: string): boolean {
  if (key.length === 0 || key.length > MAX_KEY_BYTES) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x30 && c <= 0x3a) || // 0-9 and ':'
      (c >= 0x41 && c <= 0x5a) || // A-Z
      c === 0x2e || // .
      c === 0x5f || // _
      c === 0x2d; // -
    if (!ok) return false;
  }
  return true;
}

/**
 * The exptime field for a TTL in seconds: 0 never expires; up to 30 days is relative; above that
 * memcached reads the number as an absolute unix time, so it is sent as one.
 */
export function exptime(ttlSeconds: number, nowMs: number = Date.now()): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new CacheArgumentError(`ttlSeconds must be a non-negative integer (got ${String(ttlSeconds)})`);
  }
  if (ttlSeconds <= MAX_RELATIVE_TTL_SECONDS) return ttlSeconds;
  return Math.floor(nowMs / 1000) + ttlSeconds;
}

function toBuffer(value: CacheValue): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new CacheArgumentError('value must be a Buffer, Uint8Array or string');
}

function line(text: string): Buffer {
  return Buffer.from(`${text}\r\n`, 'latin1');
}

function unexpected<T>(command: string, reply: Reply): Outcome<T> {
  if (reply.type === 'error') {
    // ERROR means the server did not recognise a command we built: the stream is out of step.
    const error = new CacheProtocolError(`${command}: server replied ${printable(reply.line)}`, { reply: reply.line.slice(0, 200) });
    return { ok: false, error, reset: reply.kind === 'ERROR' };
  }
  const shown = reply.type === 'status' ? reply.status : reply.type;
  return { ok: false, error: new CacheProtocolError(`${command}: unexpected reply ${shown}`), reset: true };
}

/** The one item of a retrieval reply for `key`, or null on a miss. */
function retrieved(verb: 'get' | 'gets', key: string, reply: Reply): Outcome<ValueItem | null> {
  if (reply.type !== 'values') return unexpected(verb, reply);
  const [item, extra] = reply.items;
  if (item === undefined) return { ok: true, value: null };
  if (extra !== undefined || item.key !== key) {
    return { ok: false, error: new CacheProtocolError(`${verb}: reply is for another key`), reset: true };
  }
  if (verb === 'gets' && item.cas === null) return { ok: false, error: new CacheProtocolError('gets: reply has no CAS'), reset: true };
  return { ok: true, value: item };
}

function retrieval(verb: 'get' | 'gets', key: string): Command<{ value: Buffer; cas: string | null } | null> {
  assertValidKey(key);
  return {
    key,
    bytes: line(`${verb} ${key}`),
    interpret: (reply) => map(retrieved(verb, key, reply), (item) => (item === null ? null : { value: item.value, cas: item.cas })),
  };
}

/** `get <key>`. */
export function getCommand(key: string): Command<Buffer | null> {
  assertValidKey(key);
  return new GetCommand(key);
}

/**
 * A plain `get`, a class so that its `bytes` getter lives on the prototype: an object literal with
 * a getter defines that accessor in V8's runtime on every call (about 2 µs of a login's CPU).
 */
class GetCommand implements Command<Buffer | null> {
  readonly mergeableGet = true;

  constructor(readonly key: string) {}

  /** Built on use: a get sent with other gets goes out in their shared multi-key line instead. */
  get bytes(): Buffer {
    return line(`get ${this.key}`);
  }

  readonly interpret = (reply: Reply): Outcome<Buffer | null> => map(retrieved('get', this.key, reply), (item) => item?.value ?? null);
}

/**
 * `get <k1> <k2> …`: the values of several keys of one server in one command and one reply, in the
 * order of `keys` (null for a miss). The caller keeps the line within the server's limit.
 */
export function getManyCommand(keys: readonly string[]): Command<(Buffer | null)[]> {
  if (keys.length === 0) throw new CacheArgumentError('getMany needs at least one key');
  for (const key of keys) assertValidKey(key);
  return {
    key: keys[0]!,
    keys,
    bytes: line(`get ${keys.join(' ')}`),
    interpret: (reply) => {
      if (reply.type !== 'values') return unexpected('get', reply);
      const items = itemsByKey(keys, reply.items);
      if (items === null) return { ok: false, error: new CacheProtocolError('get: reply is for another key'), reset: true };
      return { ok: true, value: Array.from(items, (item) => item?.value ?? null) };
    },
  };
}

/**
 * The item of each key of a multi-key `get` (undefined: a miss), or null when an item matches no
 * key. memcached answers hits in the order of the keys; a peer that reorders them is looked
 * through, and a key asked twice gets its item twice.
 */
export function itemsByKey(keys: readonly string[], items: readonly ValueItem[]): (ValueItem | undefined)[] | null {
  const found = new Array<ValueItem | undefined>(keys.length);
  let next = 0;
  for (const item of items) {
    let i = next;
    while (i < keys.length && (keys[i] !== item.key || found[i] !== undefined)) i++;
    if (i === keys.length) i = keys.findIndex((key, j) => key === item.key && found[j] === undefined);
    if (i === -1) return null;
    found[i] = item;
    next = i + 1;
  }
  return found;
}

/** `gets <key>`. */
export function getsCommand(key: string): Command<{ value: Buffer; cas: string } | null> {
  const command = retrieval('gets', key);
  return { ...command, interpret: (reply) => map(command.interpret(reply), (item) => (item === null ? null : { value: item.value, cas: item.cas ?? '' })) };
}

function map<A, B>(outcome: Outcome<A>, f: (a: A) => B): Outcome<B> {
  return outcome.ok ? { ok: true, value: f(outcome.value) } : outcome;
}

function storage(verb: 'set' | 'add' | 'cas', key: string, value: CacheValue, ttlSeconds: number, casToken: string | null, nowMs: number): Buffer {
  assertValidKey(key);
  const data = toBuffer(value);
  if (data.length > MAX_VALUE_BYTES) throw new CacheArgumentError(`value of ${data.length} bytes exceeds the ${MAX_VALUE_BYTES}-byte item limit`);
  const expiry = exptime(ttlSeconds, nowMs);
  // Flags are always 0: values are opaque bytes to this client.
  const header = `${verb} ${key} 0 ${expiry} ${data.length}${casToken === null ? '' : ` ${casToken}`}`;
  return Buffer.concat([line(header), data, CRLF]);
}

/** `set <key> 0 <exptime> <bytes>`. */
export function setCommand(key: string, value: CacheValue, ttlSeconds: number, nowMs = Date.now()): Command<void> {
  return {
    key,
    bytes: storage('set', key, value, ttlSeconds, null, nowMs),
    interpret: (reply) => (reply.type === 'status' && reply.status === 'STORED' ? { ok: true, value: undefined } : unexpected('set', reply)),
  };
}

/** `add <key> 0 <exptime> <bytes>`: true when stored, false when the key already existed. */
export function addCommand(key: string, value: CacheValue, ttlSeconds: number, nowMs = Date.now()): Command<boolean> {
  return {
    key,
    bytes: storage('add', key, value, ttlSeconds, null, nowMs),
    interpret: (reply) => {
      if (reply.type === 'status' && reply.status === 'STORED') return { ok: true, value: true };
      if (reply.type === 'status' && reply.status === 'NOT_STORED') return { ok: true, value: false };
      return unexpected('add', reply);
    },
  };
}

/** `cas <key> 0 <exptime> <bytes> <token>`. */
export function casCommand(key: string, value: CacheValue, ttlSeconds: number, casToken: string, nowMs = Date.now()): Command<CasResult> {
  if (typeof casToken !== 'string' || !CAS_PATTERN.test(casToken)) throw new CacheArgumentError('casToken must be the decimal token returned by gets()');
  return {
    key,
    bytes: storage('cas', key, value, ttlSeconds, casToken, nowMs),
    interpret: (reply) => {
      if (reply.type === 'status' && reply.status === 'STORED') return { ok: true, value: 'stored' };
      if (reply.type === 'status' && reply.status === 'EXISTS') return { ok: true, value: 'exists' };
      if (reply.type === 'status' && reply.status === 'NOT_FOUND') return { ok: true, value: 'not_found' };
      return unexpected('cas', reply);
    },
  };
}

/** `incr <key> <delta>`: the new value, or null when the key does not exist. */
export function incrCommand(key: string, delta: number): Command<number | null> {
  assertValidKey(key);
  if (!Number.isSafeInteger(delta) || delta < 0 || delta > MAX_DELTA) throw new CacheArgumentError('delta must be a non-negative safe integer');
  return {
    key,
    bytes: line(`incr ${key} ${delta}`),
    interpret: (reply) => {
      if (reply.type === 'status' && reply.status === 'NOT_FOUND') return { ok: true, value: null };
      if (reply.type !== 'number') return unexpected('incr', reply);
      const value = Number(reply.value);
      if (!Number.isSafeInteger(value)) {
        return { ok: false, error: new CacheProtocolError('incr: counter exceeds 2^53 - 1 and cannot be represented exactly'), reset: false };
      }
      return { ok: true, value };
    },
  };
}

/** `delete <key>`: true when deleted, false when absent. */
export function deleteCommand(key: string): Command<boolean> {
  assertValidKey(key);
  return {
    key,
    bytes: line(`delete ${key}`),
    interpret: (reply) => {
      if (reply.type === 'status' && reply.status === 'DELETED') return { ok: true, value: true };
      if (reply.type === 'status' && reply.status === 'NOT_FOUND') return { ok: true, value: false };
      return unexpected('delete', reply);
    },
  };
}
