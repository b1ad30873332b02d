/**
 * The counter store over the shared memcached pool. Keys come from `cacheKey('throttle', …)`: the
 * user name and address are hashed, never sent raw (CVE-2022-27924). A cell's bucket is the part
 * that varies within a window: it follows the hash instead of entering it, so a subject is hashed
 * once for all its buckets, and once for as long as the counter keeps the subject (the store
 * remembers the hash by the subject object): a login's three checks hash nothing for a user seen
 * before.
 */
import { cacheKey, CacheProtocolError, CacheUnavailableError, type MemcachedClient } from '@postern/memcached';
import { sealDelayMs } from './sealed-buckets';
import { CounterStoreError, type BucketCell, type CounterId, type CounterStore, type CounterSubject } from './sliding-window';

/**
 * `add` then `incr` may find no counter when it expired or was evicted between the two, or the
 * `add` went to a server that has just been marked dead; one more pair settles it.
 */
const INCREMENT_ATTEMPTS = 2;

/** What the store remembers of a subject. */
interface SubjectKeys {
  /** `cacheKey('throttle', [...id, windowMs, buckets])`: a bucket's key is this, `:` and the bucket. */
  readonly prefix: string;
  /**
   * The bucket whose counter this store created or incremented last. Only the current bucket is
   * incremented, and a counter outlives its bucket, so it still exists unless memcached lost it:
   * the next increment is a bare `incr` (when it finds nothing, the increment goes the long way).
   */
  live: number | undefined;
}

/**
 * {@link CounterStore} over memcached: `add "0"` with the TTL, then `incr` (pipelined: one round
 * trip); a bare `incr` for a counter this store knows to exist.
 */
export class MemcachedCounterStore implements CounterStore {
  /** By subject object: forgotten with the subject when the counter lets it go. */
  private readonly subjects = new WeakMap<CounterSubject, SubjectKeys>();

  constructor(private readonly client: MemcachedClient) {}

  /** After how long past its end a bucket can no longer change, with this client's timeout ({@link sealDelayMs}). */
  get sealAfterMs(): number {
    return sealDelayMs(this.client.timeoutMs);
  }

  async increment(cell: BucketCell, delta: number, ttlSeconds: number): Promise<number> {
    const keys = this.keysOf(cell.subject);
    const key = `${keys.prefix}:${cell.bucket}`;
    try {
      if (keys.live === cell.bucket) {
        const value = await this.client.incr(key, delta);
        if (value !== null) return value;
        // Evicted, or its server restarted or was replaced: create it again.
        keys.live = undefined;
      }
      for (let attempt = 0; attempt < INCREMENT_ATTEMPTS; attempt++) {
        // Same key, same server, same connection: memcached runs the two in order.
        const [, value] = await Promise.all([this.client.add(key, '0', ttlSeconds), this.client.incr(key, delta)]);
        if (value !== null) {
          keys.live = cell.bucket;
          return value;
        }
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

  async read(cells: readonly BucketCell[]): Promise<number[]> {
    const keys = cells.map((cell) => `${this.keysOf(cell.subject).prefix}:${cell.bucket}`);
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

  private keysOf(subject: CounterSubject): SubjectKeys {
    let keys = this.subjects.get(subject);
    if (keys === undefined) {
      keys = { prefix: subjectKeyPrefix(subject), live: undefined };
      this.subjects.set(subject, keys);
    }
    return keys;
  }
}

/**
 * The hashed part of a subject's bucket keys: its id, window and bucket count, hashed together
 * (the layout of every version so far, so nodes of different versions share counters).
 */
export function subjectKeyPrefix(subject: CounterSubject): string {
  return cacheKey('throttle', [...subject.id, subject.windowMs, subject.buckets]);
}

/** An unreachable or misbehaving server is the store's failure; a bad key or argument is our bug and stays as it is. */
function storeError(op: string, error: unknown): Error {
  if (error instanceof CacheUnavailableError || error instanceof CacheProtocolError)
    return new CounterStoreError(`throttle counter ${op}: ${error.message}`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
