import { cacheKey, type MemcachedClient } from '@postern/memcached';
import { describe, expect, it } from 'vitest';
import { counterKey, KeyPrefixMemo, MemcachedCounterStore } from './memcached-counter-store';

/** The part of a memcached client the store uses for counters: a map, and the commands it was sent. */
function scriptedClient() {
  const values = new Map<string, number>();
  const sent: string[] = [];
  const client = {
    timeoutMs: 3000,
    async add(key: string, value: string) {
      sent.push('add');
      if (values.has(key)) return false;
      values.set(key, Number(value));
      return true;
    },
    async incr(key: string, delta: number) {
      sent.push('incr');
      const value = values.get(key);
      if (value === undefined) return null;
      values.set(key, value + delta);
      return value + delta;
    },
  };
  return { values, sent, client: client as unknown as MemcachedClient };
}

describe('MemcachedCounterStore.increment', () => {
  it('creates a counter with add + incr, then increments it with a bare incr', async () => {
    const { client, sent } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    expect(await store.increment(['ip', 'x', 1], 1, 60)).toBe(1);
    expect(await store.increment(['ip', 'x', 1], 1, 60)).toBe(2);
    expect(sent).toEqual(['add', 'incr', 'incr']);
  });

  it('creates the counter again when memcached lost it', async () => {
    const { client, sent, values } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    await store.increment(['ip', 'x', 1], 1, 60);
    values.clear(); // evicted, or its server restarted
    sent.length = 0;
    expect(await store.increment(['ip', 'x', 1], 1, 60)).toBe(1);
    expect(sent).toEqual(['incr', 'add', 'incr']);
  });

  it('remembers only as many counters as it may', async () => {
    const { client, sent } = scriptedClient();
    const store = new MemcachedCounterStore(client, 1);
    await store.increment(['a', 1], 1, 60);
    await store.increment(['b', 1], 1, 60);
    sent.length = 0;
    await store.increment(['a', 1], 1, 60); // forgotten for b: the long way
    await store.increment(['a', 1], 1, 60);
    expect(sent).toEqual(['add', 'incr', 'incr']);
  });
});

describe('counterKey', () => {
  it('hashes everything but the bucket, which follows the hash', () => {
    const memo = new KeyPrefixMemo();
    const keys = [0, 1, 2].map((bucket) => counterKey(['user', 'Alice@example.com', 600_000, 10, 2_950_000 + bucket], memo));
    const prefix = cacheKey('throttle', ['user', 'Alice@example.com', 600_000, 10]);
    expect(keys).toEqual([`${prefix}:2950000`, `${prefix}:2950001`, `${prefix}:2950002`]);
    expect(memo.hashes).toBe(1);
    expect(keys.join(' ')).not.toMatch(/alice/i);
  });

  it('gives different subjects and windows different keys, with or without a memo', () => {
    const a = counterKey(['user', 'alice', 600_000, 10, 7]);
    expect(counterKey(['user', 'alice', 60_000, 10, 7])).not.toBe(a);
    expect(counterKey(['user', 'bob', 600_000, 10, 7])).not.toBe(a);
    const memo = new KeyPrefixMemo();
    expect(counterKey(['user', 'alice', 600_000, 10, 7], memo)).toBe(a);
    expect(counterKey(['user', 'bob', 600_000, 10, 7], memo)).toBe(counterKey(['user', 'bob', 600_000, 10, 7]));
    expect(counterKey(['user', 'alice', 600_000, 10, 8], memo)).toBe(`${cacheKey('throttle', ['user', 'alice', 600_000, 10])}:8`);
    expect(memo.hashes).toBe(3);
  });

  it('hashes a last part that is not a bucket-like value with the rest', () => {
    expect(counterKey(['user', 'Alice Smith'])).toBe(cacheKey('throttle', ['user', 'Alice Smith']));
  });
});
