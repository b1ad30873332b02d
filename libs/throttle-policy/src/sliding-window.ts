/**
 * Sliding-window counters over a shared store, exact across nodes.
 *
 * ## Algorithm
 *
 * A window of W ms is cut into {@link SUB_BUCKETS} (N) sub-buckets of W/N, aligned on the epoch so
 * every node agrees which bucket is current. One store counter per (subject, bucket). The count at
 * time t is the sum of the current bucket and the N − 1 before it, so the counted span runs from
 * the start of the oldest of those buckets to t: between (N − 1)/N · W and W long.
 *
 * ## Error bound (N = 10)
 *
 * - Never stricter than an exact window: an event is counted for at most W after it happened, so a
 *   deny is always backed by ≥ limit events in the last W. One exception, for a few milliseconds:
 *   a denied attempt's hit between its increment and its refund (see below) is seen by others.
 * - At most one sub-bucket lenient: an event stops counting between W − W/N and W after it happened.
 *   Any interval of (N − 1)/N · W = 0.9 W admits at most `limit`; events older than that may be
 *   forgotten early. At a steady rate the undercount is at most 1/N (10 %) of the window's events;
 *   an adversary timing bursts to bucket edges gets at most 2 × limit in an interval just over
 *   0.9 W (a fixed window, Zimbra's, allows 2 × limit within an instant at its boundary).
 * - Clock skew between nodes adds itself to both bounds (buckets are chosen by each node's clock).
 *
 * ## Atomicity
 *
 * An admission increments the current bucket (`add "0"` with TTL, then `incr`: the new value comes
 * back atomically) while it reads the N − 1 older buckets, in the same round trip, and decides on
 * the sum. Concurrent admissions on other nodes are thereby ordered by memcached: exactly `limit`
 * win. A denied attempt (the loser of such a race, or one over the limit within the current
 * bucket) takes its hit back by adding {@link REFUND_UNIT} to the same counter, without waiting
 * for it: one counter holds hits + 2^32 × refunds, and one read (or the `incr` reply) gives both
 * consistently, every refund seen belonging to a hit also seen. When the older buckets are known
 * here (sealed, below) and already reach the limit, the attempt is denied without any write. A
 * denied attempt therefore counts nothing: an attacker who keeps knocking does not extend their
 * own block, and a client polling for the window to pass gets in when it has. A refund that is
 * lost (the store failed after the increment) leaves its hit counted: stricter, never laxer.
 *
 * ## Sealed buckets
 *
 * A bucket stops changing once its span of time is over and every write that could still be on its
 * way has landed ({@link sealDelayMs}, in sealed-buckets.ts). A counter keeps such sealed buckets' counts in memory for
 * the subjects it read last ({@link SEALED_SUBJECTS}), so a check reads the open buckets only: one
 * or two keys rather than ten. Every node still decides on what memcached holds; what it keeps is
 * only what memcached held after the bucket could no longer change. A bucket that memcached loses
 * after that (eviction, a restart) keeps counting here until it leaves the span, as if it had not
 * been lost.
 */

import { KnownSubjects, SEAL_AFTER_MS, SEALED_SUBJECTS, SealedRun, type KnownSubject } from './sealed-buckets';

/** Identifies what is counted (`['user', name]`, `['ip', protocol, address]`): hashed into a cache key by the store, never sent raw. */
export type CounterId = readonly (string | number)[];

/**
 * One subject counted over one window. A counter hands the store the same object for as long as it
 * keeps the subject ({@link SEALED_SUBJECTS}), so a store may remember what it derives from it
 * (its hashed key) by identity, in a WeakMap.
 */
export interface CounterSubject {
  readonly id: CounterId;
  readonly windowMs: number;
  /** Sub-buckets of the window: with `windowMs`, part of the counter's identity (a reload that changes them starts fresh counters). */
  readonly buckets: number;
}

/** One sub-bucket of a subject: the store keeps one counter for each. */
export interface BucketCell {
  readonly subject: CounterSubject;
  /** The bucket's index, counted from the epoch. */
  readonly bucket: number;
}

/** The counter of a cell as one id: the subject's id, its window, its bucket count and the bucket (how stores name it). */
export function cellId(cell: BucketCell): CounterId {
  const { id, windowMs, buckets } = cell.subject;
  return [...id, windowMs, buckets, cell.bucket];
}

/** The counter store port: memcached in production, a map in unit tests. */
export interface CounterStore {
  /**
   * Adds `delta` to the counter of `cell`, creating it at 0 with a lifetime of `ttlSeconds` when
   * it does not exist; resolves to the new value. Atomic across every node sharing the store.
   * @throws {CounterStoreError} when the store cannot answer.
   */
  increment(cell: BucketCell, delta: number, ttlSeconds: number): Promise<number>;
  /** The values of the counters of `cells` (0 for a missing counter), in order. @throws {CounterStoreError} */
  read(cells: readonly BucketCell[]): Promise<number[]>;
  /**
   * Creates the entry `id` when it does not exist, with a lifetime of `ttlSeconds`; resolves true
   * when this call created it. Atomic across every node (de-duplication of hedged checks).
   * @throws {CounterStoreError} when the store cannot answer.
   */
  claim(id: CounterId, ttlSeconds: number): Promise<boolean>;
}

/** The counter store could not answer (down, too slow, or an unreadable value). */
export class CounterStoreError extends Error {
  override readonly name = 'CounterStoreError';
  readonly code = 'THROTTLE_STORE_UNAVAILABLE';
}

/**
 * Sub-buckets per window. Ten bounds the undercount to a tenth of the window while a check costs
 * ten memcached reads (issued together, they go out as one multi-key `get` per server: one round trip).
 */
export const SUB_BUCKETS = 10;

/**
 * What a refund adds: hits live in the low 32 bits, refunds above. Hits per bucket stay below 2^32
 * (the limit is at most 10^9; denied attempts add a hit each only while the older buckets are not
 * known to be over the limit, and 3 × 10^9 of them in one sub-bucket is more than any client
 * sends); refunds are capped at {@link MAX_REFUNDS_PER_BUCKET}, so a counter never passes 2^53
 * (JavaScript's exact integers).
 */
export const REFUND_UNIT = 2 ** 32;

/**
 * Refunds go to the losers of concurrent admissions at the limit, and to attempts denied while the
 * older buckets are not known here to be over it (within the current bucket, or before they
 * sealed). Past a million in one sub-bucket denied attempts simply stay counted (stricter, never
 * laxer), keeping the counter below 2^53.
 */
export const MAX_REFUNDS_PER_BUCKET = 2 ** 20;

/**
 * memcached counts expiry in whole seconds and may expire an item up to a second early; one more
 * second keeps a bucket alive for as long as it can still be in a span.
 */
const TTL_MARGIN_SECONDS = 1;

/** Events counted per bucket (hits minus refunds), oldest bucket first. */
function admittedIn(value: number): number {
  const hits = value % REFUND_UNIT;
  const refunds = Math.floor(value / REFUND_UNIT);
  return Math.max(0, hits - refunds);
}

/** The counters of one subject over one window at one instant. */
export class WindowSnapshot {
  /** Events counted in the span. */
  readonly count: number;

  constructor(
    /** Index of the current bucket (epoch-aligned). */
    readonly current: number,
    /** Events per bucket, oldest first (N entries, the last one is the current bucket). */
    readonly perBucket: readonly number[],
    private readonly windowMs: number,
    /** When it was taken (epoch ms). */
    readonly at: number,
  ) {
    this.count = perBucket.reduce((a, b) => a + b, 0);
  }

  /** Milliseconds until at most `target` of the counted events remain (0 when already so). */
  msUntilAtMost(target: number): number {
    const n = this.perBucket.length;
    let remaining = this.count;
    for (let i = 0; i < n && remaining > target; i++) {
      remaining -= this.perBucket[i]!;
      if (remaining <= target) {
        // Bucket (current − n + 1 + i) leaves the span when bucket (current + 1 + i) begins.
        const leavesAt = ((this.current + 1 + i) * this.windowMs) / n;
        return Math.max(0, Math.ceil(leavesAt - this.at));
      }
    }
    return 0;
  }
}

/** The outcome of {@link SlidingWindowCounter.admit}. */
export type Admission =
  | { readonly admitted: true; /** Events counted, this one included. */ readonly count: number }
  | { readonly admitted: false; /** Events counted, this one not included. */ readonly count: number; readonly retryAfterMs: number };

/** How a {@link SlidingWindowCounter} runs; every field has a default. */
export interface SlidingWindowOptions {
  /** The clock (epoch ms). */
  readonly now?: () => number;
  /** Sub-buckets per window ({@link SUB_BUCKETS}). */
  readonly buckets?: number;
  /** Subjects whose sealed buckets are kept ({@link SEALED_SUBJECTS}); 0 reads every bucket every time. */
  readonly sealedSubjects?: number;
  /** After how long past its end a bucket is final ({@link sealDelayMs} of the store's timeout; {@link SEAL_AFTER_MS}). */
  readonly sealAfterMs?: number;
}

/** Sliding-window counting over a {@link CounterStore}; see the module comment for the bound. */
export class SlidingWindowCounter {
  readonly buckets: number;
  private readonly now: () => number;
  private readonly sealAfterMs: number;
  private readonly known: KnownSubjects;

  constructor(
    private readonly store: CounterStore,
    options: SlidingWindowOptions = {},
  ) {
    this.buckets = options.buckets ?? SUB_BUCKETS;
    if (!Number.isInteger(this.buckets) || this.buckets < 1) throw new RangeError('buckets must be a positive integer');
    this.now = options.now ?? Date.now;
    this.sealAfterMs = options.sealAfterMs ?? SEAL_AFTER_MS;
    this.known = new KnownSubjects(options.sealedSubjects ?? SEALED_SUBJECTS, this.buckets);
  }

  /** The counters of `id` over `windowMs` now (read only). */
  async snapshot(id: CounterId, windowMs: number): Promise<WindowSnapshot> {
    return (await this.snapshots([{ id, windowMs }]))[0]!;
  }

  /** The counters of several subjects now, in order, with one read of the store for them all. */
  async snapshots(subjects: readonly { readonly id: CounterId; readonly windowMs: number }[]): Promise<WindowSnapshot[]> {
    const at = this.now();
    const plans = subjects.map(({ id, windowMs }) => {
      const current = this.bucketAt(at, windowMs);
      return this.plan(this.known.of(id, windowMs), current - this.buckets + 1, current + 1);
    });
    await this.fill(plans, at);
    return plans.map((plan) => new WindowSnapshot(plan.to - 1, plan.counts, plan.known.subject.windowMs, at));
  }

  /**
   * Counts one event if fewer than `limit` are counted in the window, atomically across nodes.
   * A denied event is not counted (its hit is refunded).
   */
  async admit(id: CounterId, windowMs: number, limit: number): Promise<Admission> {
    const at = this.now();
    const current = this.bucketAt(at, windowMs);
    const from = current - this.buckets + 1;
    const known = this.known.of(id, windowMs);
    const plan = this.plan(known, from, current);
    if (plan.unknown.length === 0 && sum(plan.counts) >= limit) {
      // Over the limit on the sealed buckets alone: denied without a write. The current bucket is
      // not read, so the retry hint assumes it empty (the next attempt's hint is exact).
      const snapshot = new WindowSnapshot(current, [...plan.counts, 0], windowMs, at);
      return { admitted: false, count: snapshot.count, retryAfterMs: snapshot.msUntilAtMost(limit - 1) };
    }
    const bucket: BucketCell = { subject: known.subject, bucket: current };
    const ttl = this.ttlSeconds(windowMs);
    // The increment and the older buckets' read (when not all known) go out together: one round
    // trip. The incr reply is the current bucket's count, ordered among every concurrent
    // admission on every node.
    const [, value] = await Promise.all([this.fill([plan], at), this.store.increment(bucket, 1, ttl)]);
    const older = plan.counts;
    const perBucket = [...older, admittedIn(value)];
    const count = sum(perBucket);
    if (count <= limit) return { admitted: true, count };
    // Taken back without waiting: the verdict does not depend on it, and a refund that fails
    // leaves the hit counted (stricter, never laxer).
    if (Math.floor(value / REFUND_UNIT) < MAX_REFUNDS_PER_BUCKET) this.store.increment(bucket, REFUND_UNIT, ttl).catch(() => undefined);
    perBucket[perBucket.length - 1]! -= 1;
    const after = new WindowSnapshot(current, perBucket, windowMs, at);
    return { admitted: false, count: after.count, retryAfterMs: after.msUntilAtMost(limit - 1) };
  }

  /** Counts one event unconditionally (failed logins); resolves to the current bucket's total. */
  async record(id: CounterId, windowMs: number): Promise<number> {
    const at = this.now();
    return this.store.increment({ subject: this.known.of(id, windowMs).subject, bucket: this.bucketAt(at, windowMs) }, 1, this.ttlSeconds(windowMs));
  }

  /** What is known of buckets `from` to `to` (excluded) of a subject: the sealed ones kept here, and which to read. */
  private plan(known: KnownSubject, from: number, to: number): ReadPlan {
    const kept = known.sealed;
    const counts = new Array<number>(to - from);
    const unknown: number[] = [];
    for (let b = from; b < to; b++) {
      const count = kept?.countOf(b);
      if (count === undefined) unknown.push(b);
      else counts[b - from] = count;
    }
    return { known, from, to, counts, unknown };
  }

  /**
   * Reads the plans' unknown buckets from the store, all in one multi-key read, into their counts;
   * what the read brought of sealed buckets is kept for the next check.
   */
  private async fill(plans: readonly ReadPlan[], at: number): Promise<void> {
    const cells: BucketCell[] = [];
    for (const plan of plans) for (const bucket of plan.unknown) cells.push({ subject: plan.known.subject, bucket });
    if (cells.length === 0) return;
    const values = await this.store.read(cells);
    let k = 0;
    for (const plan of plans) {
      if (plan.unknown.length === 0) continue;
      for (const b of plan.unknown) plan.counts[b - plan.from] = admittedIn(values[k++]!);
      // The read was sent after `at`: every bucket sealed by then was read in its final state.
      const sealedEnd = Math.min(plan.to, this.bucketAt(at - this.sealAfterMs, plan.known.subject.windowMs));
      if (plan.unknown[0]! < sealedEnd) this.known.keep(plan.known, new SealedRun(plan.from, plan.counts.slice(0, sealedEnd - plan.from)));
    }
  }

  private bucketAt(at: number, windowMs: number): number {
    return Math.floor((at * this.buckets) / windowMs);
  }

  /** A bucket is in some span for at most W after it begins; one more bucket covers a creation at its very start plus clock skew. */
  private ttlSeconds(windowMs: number): number {
    return Math.ceil((windowMs + windowMs / this.buckets) / 1000) + TTL_MARGIN_SECONDS;
  }
}

/** Buckets `from` to `to` (excluded) of one subject: their counts, those still to read marked in `unknown`. */
interface ReadPlan {
  readonly known: KnownSubject;
  readonly from: number;
  readonly to: number;
  readonly counts: number[];
  readonly unknown: readonly number[];
}

function sum(counts: readonly number[]): number {
  let total = 0;
  for (const count of counts) total += count;
  return total;
}
