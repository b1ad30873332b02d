/**
 * The counter store over the shared memcached pool. Keys come from `cacheKey('throttle', …)`: the
 * user name and address are hashed, never sent raw (CVE-2022-27924). A counter id's last part is
 * the one that varies within a window (the sub-bucket): it follows the hash instead of entering it,
 * so the ten buckets of a window cost one hash, not ten (a login with every limit on reads fifty).
 */
import { cacheKey, CacheProtocolError, CacheUnavailableError, type MemcachedClient } from '@postern/memcached';
import { CounterStoreError, type CounterId, type CounterStore } from './sliding-window';

/**
 * `add` then `incr` may find no counter when it expired or was evicted between the two, or the
 * `add` went to a server that has just been marked dead; one more pair settles it.
 */
const INCREMENT_ATTEMPTS = 2;

/** {@link CounterStore} over memcached: `add "0"` with the TTL, then `incr` (pipelined: one round trip). */
export class MemcachedCounterStore implements CounterStore {
  constructor(private readonly client: MemcachedClient) {}

  async increment(id: CounterId, delta: number, ttlSeconds: number): Promise<number> {
    const key = counterKey(id);
    try {
      for (let attempt = 0; attempt < INCREMENT_ATTEMPTS; attempt++) {
        // Same key, same server, same connection: memcached runs the two in order.
        const [, value] = await Promise.all([this.client.add(key, '0', ttlSeconds), this.client.incr(key, delta)]);
        if (value !== null) return value;
      }
    } catch (error) {
      throw storeError('increment', error);
    }
    throw new CounterStoreError('throttle counter vanished between add and incr twice');
  }

  async claim(id: CounterId, ttlSeconds: number): Promise<boolean> {
    try {
      return await this.client.add(cacheKey('throttle-claim', id), '1', ttlSeconds);
    } catch (error) {
      throw storeError('claim', error);
    }
  }

  async read(ids: readonly CounterId[]): Promise<number[]> {
    const prefixes = new Map<string, string>();
    const keys = ids.map((id) => counterKey(id, prefixes));
    let values: (Buffer | null)[];
    try {
      values = await Promise.all(keys.map((key) => this.client.get(key)));
    } catch (error) {
      throw storeError('read', error);
    }
    return values.map((value) => {
      if (value === null) return 0;
      // memcached pads an incremented value with spaces when it shrinks; ours only grow, but be lenient.
      const text = value.toString('latin1').trim();
      const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n)) throw new CounterStoreError('a throttle counter holds something other than a number');
      return n;
    });
  }
}

/**
 * `cacheKey('throttle', id without its last part)` + `:` + the last part (a number or a short
 * string of ours, never a user's). `memo` reuses the hash for ids that share everything else.
 */
export function counterKey(id: CounterId, memo?: Map<string, string>): string {
  const last = id[id.length - 1];
  if (id.length < 2 || (typeof last !== 'number' && !/^[a-z0-9-]{1,16}$/.test(String(last)))) return cacheKey('throttle', id);
  const head = id.slice(0, -1);
  const memoKey = memo ? JSON.stringify(head) : '';
  let prefix = memo?.get(memoKey);
  if (prefix === undefined) {
    prefix = cacheKey('throttle', head);
    memo?.set(memoKey, prefix);
  }
  return `${prefix}:${last}`;
}

/** An unreachable or misbehaving server is the store's failure; a bad key or argument is our bug and stays as it is. */
function storeError(op: string, error: unknown): Error {
  if (error instanceof CacheUnavailableError || error instanceof CacheProtocolError)
    return new CounterStoreError(`throttle counter ${op}: ${error.message}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
