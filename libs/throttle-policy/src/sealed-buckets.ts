/**
 * What a counter keeps of the subjects it checked last: their sub-buckets that can no longer change
 * ("sealed"), so that a check reads only the open ones (see sliding-window.ts for when a bucket
 * seals and what that changes), and one object per subject that a store may remember things by.
 */
import type { CounterId, CounterSubject } from './sliding-window';

/** Room for clock skew between nodes, in the delay before a bucket is sealed. */
const SEAL_SKEW_MS = 5_000;

/**
 * How long after its end a bucket may still change, when every store operation gives up after
 * `storeTimeoutMs` (`zimbraReverseProxyCacheFetchTimeout`): an increment chosen before the end
 * lands within one timeout, its refund is sent on its reply and lands within another; the rest is
 * room for clock skew between nodes.
 */
export function sealDelayMs(storeTimeoutMs: number): number {
  return 2 * storeTimeoutMs + SEAL_SKEW_MS;
}

/** The seal delay with memcached's default timeout (3 s): 11 s. */
export const SEAL_AFTER_MS = sealDelayMs(3_000);

/**
 * Subjects (a user, an address, per window) a counter keeps: each with its sealed buckets (nine
 * numbers) and what the store remembers of it (its hashed key), a few MB at most. A subject not
 * kept is read in full.
 */
export const SEALED_SUBJECTS = 20_000;

/** Consecutive sealed buckets of one subject, from bucket `from` on. */
export class SealedRun {
  constructor(
    private readonly from: number,
    private readonly counts: readonly number[],
  ) {}

  countOf(bucket: number): number | undefined {
    return this.counts[bucket - this.from];
  }
}

/** A subject a counter keeps: the same {@link CounterSubject} object for as long as it is kept, and its sealed run. */
export class KnownSubject {
  sealed: SealedRun | undefined = undefined;
  constructor(
    readonly key: string,
    readonly subject: CounterSubject,
  ) {}
}

/**
 * The subjects seen last, at most `capacity` of them; the one kept longest ago goes first. A
 * subject in use is kept again whenever another of its buckets seals. With a capacity of 0 every
 * check gets a fresh subject: nothing is remembered.
 */
export class KnownSubjects {
  private readonly subjects = new Map<string, KnownSubject>();

  constructor(
    readonly capacity: number,
    private readonly buckets: number,
  ) {}

  of(id: CounterId, windowMs: number): KnownSubject {
    const key = subjectOf(id, windowMs);
    let known = this.subjects.get(key);
    if (known === undefined) {
      known = new KnownSubject(key, { id, windowMs, buckets: this.buckets });
      this.remember(known);
    }
    return known;
  }

  /** Keeps `run` as the sealed buckets of `known`, which is kept again as the newest. */
  keep(known: KnownSubject, run: SealedRun): void {
    known.sealed = run;
    this.subjects.delete(known.key);
    this.remember(known);
  }

  private remember(known: KnownSubject): void {
    if (this.capacity === 0) return;
    this.subjects.set(known.key, known);
    if (this.subjects.size > this.capacity) this.subjects.delete(this.subjects.keys().next().value!);
  }
}

/**
 * A subject and window as one string. Only an id's last part can come from a client (a user
 * name); the parts before it are ours, and each kind of id has a fixed number of parts, so joining
 * them cannot make two subjects one.
 */
export function subjectOf(id: CounterId, windowMs: number): string {
  return `${windowMs}\u0000${id.join('\u0000')}`;
}
