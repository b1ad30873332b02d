/**
 * What a counter keeps of sub-buckets that can no longer change ("sealed"), so that a check reads
 * only the open ones; see sliding-window.ts for when a bucket seals and what that changes.
 */
import type { CounterId } from './sliding-window';

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
 * Subjects (a user, an address, per window) whose sealed buckets a counter keeps: nine numbers and
 * a key each, a few MB at most. A subject not kept is read in full.
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

/**
 * The sealed runs of the subjects seen last, at most `capacity` of them; the one kept longest ago
 * goes first. A subject in use is kept again whenever another of its buckets seals.
 */
export class SealedBuckets {
  private readonly runs = new Map<string, SealedRun>();

  constructor(readonly capacity: number) {}

  get(subject: string): SealedRun | undefined {
    return this.capacity === 0 ? undefined : this.runs.get(subject);
  }

  keep(subject: string, run: SealedRun): void {
    if (this.capacity === 0) return;
    this.runs.delete(subject);
    this.runs.set(subject, run);
    if (this.runs.size > this.capacity) this.runs.delete(this.runs.keys().next().value!);
  }
}

/**
 * A subject and window as one string. Only an id's last part can come from a client (a user
 * name); the parts before it are ours, so joining them cannot make two subjects one.
 */
export function subjectOf(id: CounterId, windowMs: number): string {
  return `${windowMs}\u0000${id.join('\u0000')}`;
}
