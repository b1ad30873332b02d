/**
 * De-duplication of hedged checks. A frontend whose check is answered late sends the same check
 * again to the queue group, so another instance may receive it while the first is still counting
 * (or has died holding it). Each check carries a `checkId`; before counting, an instance claims
 * the id with memcached's `add` of a short-lived key, which exactly one instance wins, on every
 * node alike. The winner counts and answers; a loser counts nothing and answers `DUPLICATE`, which
 * the frontend does not take for an answer: it waits for the winner's.
 *
 * If the winner dies between its claim and its answer, the count may or may not have happened and
 * nobody answers: the frontend's check runs out of its budget and the fail mode decides. Counting
 * again could count twice, which the limits must never do.
 */
import type { CounterId } from './sliding-window';

/** The store operation claims need (the counter store has it). */
export interface ClaimStore {
  /** Creates `id` when it does not exist, with a lifetime of `ttlSeconds`: true when this call created it. @throws {CounterStoreError} */
  claim(id: CounterId, ttlSeconds: number): Promise<boolean>;
}

/**
 * How long a claimed id is remembered. Every copy of a check is sent within the frontend's budget
 * for it (`posternThrottleCheckTimeout`, at most 10 s), so a copy older than that has no one
 * waiting; 15 s adds memcached's up-to-one-second early expiry and slack for a copy queued in a
 * slow instance. Short, because every counted check leaves one key behind for this long.
 */
export const CHECK_CLAIM_TTL_SECONDS = 15;

/** Claims check ids in the shared store. */
export class CheckClaims {
  constructor(private readonly store: ClaimStore) {}

  /** True for the first claim of `checkId` by any instance; false for every later copy. @throws {CounterStoreError} */
  first(checkId: string): Promise<boolean> {
    return this.store.claim(['check', checkId], CHECK_CLAIM_TTL_SECONDS);
  }
}
