import { describe, expect, it, vi } from 'vitest';
import { FakeClock, FakeCounterStore } from './counter-store.fake';
import { SEAL_AFTER_MS, sealDelayMs } from './sealed-buckets';
import { REFUND_UNIT, SlidingWindowCounter, SUB_BUCKETS, type BucketCell } from './sliding-window';

const W = 60_000;
const B = W / SUB_BUCKETS;

function setup(startMs = 1_700_000_000_000) {
  const clock = new FakeClock(startMs);
  const store = new FakeCounterStore(clock);
  return { clock, store, counter: new SlidingWindowCounter(store, { now: clock.now }) };
}

describe('SlidingWindowCounter.admit', () => {
  it('admits exactly the limit, then denies without counting the denied attempts', async () => {
    const { counter, store } = setup();
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await counter.admit(['ip', 'x'], W, 5));
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, true, true, false, false, false]);
    expect((await counter.snapshot(['ip', 'x'], W)).count).toBe(5);
    // Each denied attempt's hit was taken back.
    const [raw] = [...store.entries.values()].map((e) => e.value);
    expect([raw! % REFUND_UNIT, Math.floor(raw! / REFUND_UNIT)]).toEqual([8, 3]);
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

  it('is never stricter than an exact window and misses at most the oldest sub-bucket (random streams, two nodes)', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < 20; run++) {
      const { counter, clock, store } = setup(1_700_000_000_000 + Math.floor(random() * W));
      // Another node on the same store, each keeping its own sealed buckets.
      const nodes = [counter, new SlidingWindowCounter(store, { now: clock.now })];
      const events: number[] = [];
      for (let i = 0; i < 300; i++) {
        clock.advance(Math.floor(random() * (W / 20)));
        await nodes[Math.floor(random() * 2)]!.record(['f'], W);
        events.push(clock.ms);
        const counted = (await nodes[Math.floor(random() * 2)]!.snapshot(['f'], W)).count;
        const inLast = (span: number) => events.filter((t) => t > clock.ms - span).length;
        expect(counted).toBeLessThanOrEqual(inLast(W));
        expect(counted).toBeGreaterThanOrEqual(inLast(W - B));
      }
    }
  });
});

describe('SlidingWindowCounter.admit, denials', () => {
  it('denies without a write when the buckets it keeps already reach the limit', async () => {
    // Sub-buckets longer than the seal delay: the one before the current one is kept too.
    const window = 600_000;
    const bucket = window / SUB_BUCKETS;
    const start = Math.ceil(1_700_000_000_000 / bucket) * bucket;
    const { counter, store, clock } = setup(start);
    expect((await counter.admit(['ip', 'x'], window, 1)).admitted).toBe(true);
    clock.advance(bucket + SEAL_AFTER_MS);
    // A read now keeps every bucket that ended long enough ago, the one with the event included.
    expect((await counter.snapshot(['ip', 'x'], window)).count).toBe(1);
    const writes = vi.spyOn(store, 'increment');
    const denied = await counter.admit(['ip', 'x'], window, 1);
    expect(denied).toMatchObject({ admitted: false, count: 1 });
    expect(writes).not.toHaveBeenCalled();
    // The event's bucket leaves the span W − B after it ends.
    expect(denied.admitted ? 0 : denied.retryAfterMs).toBe(start + bucket + window - bucket - clock.ms);
  });

  it('answers a denial at once, even when its refund cannot be written (the hit then stays counted)', async () => {
    const { counter, store } = setup();
    expect((await counter.admit(['u'], W, 1)).admitted).toBe(true);
    const increment = store.increment.bind(store);
    vi.spyOn(store, 'increment').mockImplementation((id, delta, ttl) =>
      delta === REFUND_UNIT ? Promise.reject(new Error('the store went away')) : increment(id, delta, ttl),
    );
    expect(await counter.admit(['u'], W, 1)).toMatchObject({ admitted: false, count: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect((await counter.snapshot(['u'], W)).count).toBe(2);
  });
});

describe('sealed buckets', () => {
  it('are final one store timeout for the increment and one for its refund after their end, plus skew', () => {
    expect(sealDelayMs(3_000)).toBe(11_000);
    expect(SEAL_AFTER_MS).toBe(sealDelayMs(3_000));
  });

  it("are not kept before the counter's seal delay has passed", async () => {
    const start = Math.ceil(1_700_000_000_000 / B) * B;
    const { store, clock } = setup(start);
    const counter = new SlidingWindowCounter(store, { now: clock.now, sealAfterMs: 20_000 });
    const other = new SlidingWindowCounter(store, { now: clock.now });
    await counter.record(['f'], W);
    clock.advance(B + 15_000); // past the default delay, not past this counter's
    expect((await counter.snapshot(['f'], W)).count).toBe(1);
    // A write to the ended bucket lands late (an increment sent just before its end, slow to arrive).
    clock.advance(-(15_000 + 1));
    await other.record(['f'], W);
    clock.advance(15_000 + 1);
    expect((await counter.snapshot(['f'], W)).count).toBe(2);
  });

  /** The bucket ids each read asked the store for, by their bucket number. */
  function readsOf(store: ReturnType<typeof setup>['store']): number[][] {
    const reads: number[][] = [];
    const read = store.read.bind(store);
    vi.spyOn(store, 'read').mockImplementation((cells: readonly BucketCell[]) => {
      reads.push(cells.map((cell) => cell.bucket));
      return read(cells);
    });
    return reads;
  }

  it('reads a bucket that can no longer change once, and every open bucket every time', async () => {
    const start = Math.ceil(1_700_000_000_000 / B) * B;
    const { counter, store, clock } = setup(start);
    const reads = readsOf(store);
    const current = start / B;
    await counter.record(['f'], W);
    clock.advance(B + SEAL_AFTER_MS);
    expect((await counter.snapshot(['f'], W)).count).toBe(1);
    expect((await counter.snapshot(['f'], W)).count).toBe(1);
    // The bucket written and those before it were sealed at the first read; only the open ones are read again.
    const now = Math.floor(clock.ms / B);
    expect(reads[0]).toEqual(Array.from({ length: SUB_BUCKETS }, (_, i) => now - SUB_BUCKETS + 1 + i));
    expect(reads[1]!.every((b) => b > current)).toBe(true);
    expect(reads[1]!.length).toBeLessThan(SUB_BUCKETS);
  });

  it('sees a write that lands in a bucket just ended, until the bucket is sealed', async () => {
    const start = Math.ceil(1_700_000_000_000 / B) * B;
    const { counter, store, clock } = setup(start);
    const other = new SlidingWindowCounter(store, { now: clock.now });
    await counter.record(['f'], W);
    clock.advance(B + 1); // the first bucket has ended, but a write to it may still be on its way
    expect((await counter.snapshot(['f'], W)).count).toBe(1);
    // Another node's increment of that bucket, sent just before its end, lands now.
    clock.advance(-2);
    await other.record(['f'], W);
    clock.advance(2);
    expect((await counter.snapshot(['f'], W)).count).toBe(2);
  });

  it('keeps the subjects read last, up to its capacity; a counter with none reads everything', async () => {
    const start = Math.ceil(1_700_000_000_000 / B) * B;
    for (const [capacity, fullReadsOfA] of [
      [2, 2],
      [0, 3],
    ] as const) {
      const { store, clock } = setup(start);
      const counter = new SlidingWindowCounter(store, { now: clock.now, sealedSubjects: capacity });
      const reads = readsOf(store);
      clock.advance(SEAL_AFTER_MS + B);
      const fullReadsOf = async (subject: string) => {
        const before = reads.length;
        await counter.snapshot([subject], W);
        return reads[before]!.length === SUB_BUCKETS ? 1 : 0;
      };
      let a = await fullReadsOf('a');
      a += await fullReadsOf('a'); // kept (unless none are)
      await fullReadsOf('b');
      await fullReadsOf('c'); // with room for two, 'a' is forgotten here
      a += await fullReadsOf('a');
      expect(a).toBe(fullReadsOfA);
    }
  });
});

describe('SlidingWindowCounter.record and snapshot', () => {
  it('reads several subjects with one read of the store', async () => {
    const { counter, store } = setup();
    await counter.record(['a'], W);
    await counter.record(['b'], 2 * W);
    await counter.record(['b'], 2 * W);
    const read = vi.spyOn(store, 'read');
    const [a, b] = await counter.snapshots([
      { id: ['a'], windowMs: W },
      { id: ['b'], windowMs: 2 * W },
    ]);
    expect([a!.count, b!.count]).toEqual([1, 2]);
    expect(read).toHaveBeenCalledTimes(1);
    expect(read.mock.calls[0]![0]).toHaveLength(2 * SUB_BUCKETS);
  });

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
    const [id] = [...store.entries.keys()].map((k) => JSON.parse(k) as (string | number)[]);
    const cell: BucketCell = { subject: { id: id!.slice(0, -3), windowMs: W, buckets: SUB_BUCKETS }, bucket: id!.at(-1) as number };
    expect(await store.read([cell])).toEqual([0]);
  });
});
