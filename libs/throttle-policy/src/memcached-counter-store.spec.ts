import { cacheKey } from '@postern/memcached';
import { describe, expect, it } from 'vitest';
import { counterKey, KeyPrefixMemo } from './memcached-counter-store';

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
