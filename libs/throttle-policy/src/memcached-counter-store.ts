/**
 * The counter store over the shared memcached pool. Keys come from `cacheKey('throttle', …)`: the
 * user name and address are hashed, never sent raw (CVE-2022-27924). A counter id's last part is
 * the one that varies within a window (the sub-bucket): it follows the hash instead of entering it,
 * so the ten buckets of a window cost one hash, not ten (a subject a node has not read yet is read whole).
 */
import { cacheKey, CacheProtocolError, CacheUnavailableError, type MemcachedClient } from '@postern/memcached';
import { sealDelayMs } from './sealed-buckets';
import { CounterStoreError, type CounterId, type CounterStore } from './sliding-window';

/**
 * `add` then `incr` may find no counter when it expired or was evicted between the two, or the
 * `add` went to a server that has just been marked dead; one more pair settles it.
 */
const INCREMENT_ATTEMPTS = 2;

/**
 * Counters this store has created or incremented lately, remembered so the next increment is a
 * bare `incr`. A counter is incremented only while its sub-bucket is current, and it lives longer
 * than that, so it still exists unless memcached lost it; then `incr` finds nothing and the
 * increment goes the long way. A few MB at most.
 */
const LIVE_COUNTERS = 20_000;

/**
 * {@link CounterStore} over memcached: `add "0"` with the TTL, then `incr` (pipelined: one round
 * trip); a bare `incr` for a counter this store knows to exist.
 */
export class MemcachedCounterStore implements CounterStore {
  /** Keys of the counters known to exist, oldest first (insertion order). */
  private readonly live = new Set<string>();

  constructor(
    private readonly client: MemcachedClient,
    private readonly liveCounters: number = LIVE_COUNTERS,
  ) {}

  /** After how long past its end a bucket can no longer change, with this client's timeout ({@link sealDelayMs}). */
  get sealAfterMs(): number {
    return sealDelayMs(this.client.timeoutMs);
  }

  async increment(id: CounterId, delta: number, ttlSeconds: number): Promise<number> {
    const key = counterKey(id);
    try {
      if (this.live.has(key)) {
        const value = await this.client.incr(key, delta);
        if (value !== null) return value;
        // Evicted, or its server restarted or was replaced: create it again.
        this.live.delete(key);
      }
      for (let attempt = 0; attempt < INCREMENT_ATTEMPTS; attempt++) {
        // Same key, same server, same connection: memcached runs the two in order.
        const [, value] = await Promise.all([this.client.add(key, '0', ttlSeconds), this.client.incr(key, delta)]);
        if (value !== null) {
          this.remember(key);
          return value;
        }
      }
    } catch (error) {
      throw storeError('increment', error);
    }
    throw new CounterStoreError('throttle counter vanished between add and incr twice');
  }

  private remember(key: string): void {
    if (this.liveCounters === 0) return;
    this.live.add(key);
    if (this.live.size > this.liveCounters) this.live.delete(this.live.values().next().value!);
  }

  async claim(id: CounterId, ttlSeconds: number): Promise<boolean> {
    try {
      return await this.client.add(cacheKey('throttle-claim', id), '1', ttlSeconds);
    } catch (error) {
      throw storeError('claim', error);
    }
  }

  async read(ids: readonly CounterId[]): Promise<number[]> {
    const prefixes = new KeyPrefixMemo();
    const keys = ids.map((id) => counterKey(id, prefixes));
    let values: (Buffer | null)[];
    try {
      // One multi-key get per server: a window's buckets are one command, one reply.
      values = await this.client.getMany(keys);
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
 * The hashed prefix of the last head seen, for the ids that follow with the same head: a window's
 * buckets come in a row, so they cost one hash and a few comparisons, not a hash or a
 * serialisation each.
 */
export class KeyPrefixMemo {
  private head: readonly (string | number)[] | undefined;
  private prefix = '';
  /** Prefixes hashed so far. */
  hashes = 0;

  prefixOf(head: readonly (string | number)[]): string {
    if (!this.head || !sameParts(head, this.head)) {
      this.prefix = cacheKey('throttle', head);
      this.head = head;
      this.hashes++;
    }
    return this.prefix;
  }
}

function sameParts(a: readonly (string | number)[], b: readonly (string | number)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `cacheKey('throttle', id without its last part)` + `:` + the last part (a number or a short
 * string of ours, never a user's). `memo` reuses the hash for ids that share everything else.
 */
export function counterKey(id: CounterId, memo?: KeyPrefixMemo): string {
  const last = id[id.length - 1];
  if (id.length < 2 || (typeof last !== 'number' && !/^[a-z0-9-]{1,16}$/.test(String(last)))) return cacheKey('throttle', id);
  const head = id.slice(0, -1);
  return `${memo ? memo.prefixOf(head) : cacheKey('throttle', head)}:${last}`;
}

/** An unreachable or misbehaving server is the store's failure; a bad key or argument is our bug and stays as it is. */
function storeError(op: string, error: unknown): Error {
  if (error instanceof CacheUnavailableError || error instanceof CacheProtocolError)
    return new CounterStoreError(`throttle counter ${op}: ${error.message}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
