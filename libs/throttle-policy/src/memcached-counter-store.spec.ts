import { cacheKey, type MemcachedClient } from '@postern/memcached';
import { describe, expect, it } from 'vitest';
import { MemcachedCounterStore, subjectKeyPrefix } from './memcached-counter-store';
import type { CounterSubject } from './sliding-window';

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

const subject: CounterSubject = { id: ['ip', 'imap', '192.0.2.1'], windowMs: 600_000, buckets: 10 };

describe('MemcachedCounterStore.increment', () => {
  it('creates a counter with add + incr, then increments it with a bare incr', async () => {
    const { client, sent } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    expect(await store.increment({ subject, bucket: 1 }, 1, 60)).toBe(1);
    expect(await store.increment({ subject, bucket: 1 }, 1, 60)).toBe(2);
    expect(sent).toEqual(['add', 'incr', 'incr']);
  });

  it('creates the counter again when memcached lost it', async () => {
    const { client, sent, values } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    await store.increment({ subject, bucket: 1 }, 1, 60);
    values.clear(); // evicted, or its server restarted
    sent.length = 0;
    expect(await store.increment({ subject, bucket: 1 }, 1, 60)).toBe(1);
    expect(sent).toEqual(['incr', 'add', 'incr']);
  });

  it('takes the long way for a bucket it has not created, and for a subject it does not know', async () => {
    const { client, sent } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    await store.increment({ subject, bucket: 1 }, 1, 60);
    sent.length = 0;
    await store.increment({ subject, bucket: 2 }, 1, 60); // the next bucket began
    await store.increment({ subject: { ...subject }, bucket: 2 }, 1, 60); // the same subject, as a new object
    expect(sent).toEqual(['add', 'incr', 'add', 'incr']);
  });
});

describe('bucket keys', () => {
  it('hash everything but the bucket, which follows the hash', async () => {
    const { client, values } = scriptedClient();
    const store = new MemcachedCounterStore(client);
    const user: CounterSubject = { id: ['user', 'Alice@example.com'], windowMs: 600_000, buckets: 10 };
    for (const bucket of [2_950_000, 2_950_001]) await store.increment({ subject: user, bucket }, 1, 60);
    const prefix = cacheKey('throttle', ['user', 'Alice@example.com', 600_000, 10]);
    expect([...values.keys()]).toEqual([`${prefix}:2950000`, `${prefix}:2950001`]);
    expect([...values.keys()].join(' ')).not.toMatch(/alice/i);
  });

  it('differ between subjects, windows and bucket counts, and between parts that would join into the same text', () => {
    const keys = [
      subject,
      { ...subject, windowMs: 60_000 },
      { ...subject, buckets: 5 },
      { ...subject, id: ['ip', 'imap', '192.0.2.2'] },
      { ...subject, id: ['ip', 'imap,192.0.2.1'] },
      { ...subject, id: ['user', '1'] },
      { ...subject, id: ['user', 1] },
    ].map(subjectKeyPrefix);
    expect(new Set(keys).size).toBe(keys.length);
    expect(subjectKeyPrefix({ ...subject })).toBe(keys[0]);
  });
});
