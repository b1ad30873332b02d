import { describe, expect, it } from 'vitest';
import { FakeClock, FakeCounterStore } from './counter-store.fake';
import { REFUND_UNIT, SlidingWindowCounter, SUB_BUCKETS } from './sliding-window';

const W = 60_000;
const B = W / SUB_BUCKETS;

function setup(startMs = 1_700_000_000_000) {
  const clock = new FakeClock(startMs);
  const store = new FakeCounterStore(clock);
  return { clock, store, counter: new SlidingWindowCounter(store, clock.now) };
}

describe('SlidingWindowCounter.admit', () => {
  it('admits exactly the limit, then denies without counting the denied attempts', async () => {
    const { counter } = setup();
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await counter.admit(['ip', 'x'], W, 5));
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, true, true, false, false, false]);
    expect((await counter.snapshot(['ip', 'x'], W)).count).toBe(5);
  });

  it('keeps separate counters per subject and per window length', async () => {
    const { counter } = setup();
    await counter.admit(['ip', 'a'], W, 1);
    expect((await counter.admit(['ip', 'a'], W, 1)).admitted).toBe(false);
    expect((await counter.admit(['ip', 'b'], W, 1)).admitted).toBe(true);
    // A reload that changes the window starts fresh counters rather than misreading old buckets.
    expect((await counter.admit(['ip', 'a'], 2 * W, 1)).admitted).toBe(true);
  });

  it('lets exactly `limit` of many concurrent attempts in, and takes the losers back', async () => {
    const { counter, store } = setup();
    // The fake store answers in microtasks: every attempt reads before any increments, the worst race.
    const results = await Promise.all(Array.from({ length: 40 }, () => counter.admit(['ip', 'race'], W, 7)));
    expect(results.filter((r) => r.admitted)).toHaveLength(7);
    expect((await counter.snapshot(['ip', 'race'], W)).count).toBe(7);
    const [raw] = [...store.entries.values()].map((e) => e.value);
    expect(raw! % REFUND_UNIT).toBe(40);
    expect(Math.floor(raw! / REFUND_UNIT)).toBe(33);
  });

  it('forgets an event between 0.9 W and W after it, at the end of its bucket', async () => {
    for (const offset of [0, 1, B / 2, B - 1]) {
      const start = Math.ceil(1_700_000_000_000 / B) * B + offset;
      const { counter, clock } = setup(start);
      await counter.admit(['ip', 'x'], W, 1);
      const bucketEnd = Math.floor(start / B) * B + B;
      clock.ms = bucketEnd + W - B - 1;
      expect((await counter.admit(['ip', 'x'], W, 1)).admitted).toBe(false);
      clock.ms = bucketEnd + W - B;
      const elapsed = clock.ms - start;
      expect(elapsed).toBeGreaterThan(W - B);
      expect(elapsed).toBeLessThanOrEqual(W);
      expect((await counter.admit(['ip', 'x'], W, 1)).admitted).toBe(true);
    }
  });

  it('says when the next attempt will get in', async () => {
    const start = Math.ceil(1_700_000_000_000 / B) * B + 1000;
    const { counter, clock } = setup(start);
    await counter.admit(['u'], W, 2);
    clock.advance(B); // the second event lands one bucket later
    await counter.admit(['u'], W, 2);
    clock.advance(5000);
    const denied = await counter.admit(['u'], W, 2);
    expect(denied).toMatchObject({ admitted: false, count: 2 });
    // The first event's bucket leaves the span W − B after it ends.
    const firstBucketEnd = Math.floor(start / B) * B + B;
    expect(denied.admitted ? 0 : denied.retryAfterMs).toBe(firstBucketEnd + W - B - clock.ms);
    clock.ms = firstBucketEnd + W - B;
    expect((await counter.admit(['u'], W, 2)).admitted).toBe(true);
  });

  it('is never stricter than an exact window and misses at most the oldest sub-bucket (random streams)', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < 20; run++) {
      const { counter, clock } = setup(1_700_000_000_000 + Math.floor(random() * W));
      const events: number[] = [];
      for (let i = 0; i < 300; i++) {
        clock.advance(Math.floor(random() * (W / 20)));
        await counter.record(['f'], W);
        events.push(clock.ms);
        const counted = (await counter.snapshot(['f'], W)).count;
        const inLast = (span: number) => events.filter((t) => t > clock.ms - span).length;
        expect(counted).toBeLessThanOrEqual(inLast(W));
        expect(counted).toBeGreaterThanOrEqual(inLast(W - B));
      }
    }
  });
});

describe('SlidingWindowCounter.record and snapshot', () => {
  it('counts every recorded event, reading does not count', async () => {
    const { counter } = setup();
    for (let i = 0; i < 4; i++) await counter.record(['f', 'u'], W);
    for (let i = 0; i < 3; i++) expect((await counter.snapshot(['f', 'u'], W)).count).toBe(4);
  });

  it('reads hits minus refunds per bucket, never below zero', async () => {
    const { counter, store, clock } = setup();
    const bucket = Math.floor((clock.ms * SUB_BUCKETS) / W);
    store.entries.set(JSON.stringify(['x', W, SUB_BUCKETS, bucket]), { value: 3 + 2 * REFUND_UNIT, expiresAt: clock.ms + W });
    store.entries.set(JSON.stringify(['x', W, SUB_BUCKETS, bucket - 1]), { value: REFUND_UNIT, expiresAt: clock.ms + W });
    expect((await counter.snapshot(['x'], W)).count).toBe(1);
  });

  it('lets counters expire by themselves', async () => {
    const { counter, store, clock } = setup();
    await counter.record(['f'], W);
    clock.advance(W + B + 2000);
    expect(await store.read([...store.entries.keys()].map((k) => JSON.parse(k) as string[]))).toEqual([0]);
  });
});
