/**
 * What each kind of throttle check counts and when it denies. No NATS, no Nest, no memcached:
 * counters go through {@link SlidingWindowCounter} and its store port. A check that would count
 * first claims its `checkId` ({@link CheckClaims}): a hedged copy of a check already taken by
 * another instance counts nothing and is answered `DUPLICATE`.
 *
 * | kind | counts | denies when |
 * |---|---|---|
 * | `connect` | the client IP's connections for its protocol (whitelist skipped) | the IP's limit is reached |
 * | `pre-login` | nothing (a stranger cannot lock a user out by trying) | user's successful logins, user's failures or the IP's failures reached their limits |
 * | `login-succeeded` | the user's successful logins | a concurrent login on another node took the last place |
 * | `login-failed` | the user's and the IP's failed logins | never (it is a report) |
 */
import { ErrorCode, PosternError, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { subscriberAddress } from '@postern/ip-address';
import type { CheckClaims } from './check-claims';
import { CounterStoreError, type CounterId, type SlidingWindowCounter, type WindowSnapshot } from './sliding-window';
import type { ThrottleConfig, WindowLimit } from './throttle-settings';

/** What a check needs of the login's deadline (service-kit's `Deadline` is one). */
export interface CheckDeadline {
  /** Races `work` against the deadline; rejects with `TIMEOUT` on expiry. */
  run<T>(what: string, work: Promise<T>): Promise<T>;
}

/** Why a check was denied (the contract's `reason`). */
export type DenyReason = Extract<ThrottleCheckResult, { verdict: 'deny' }>['reason'];

/** A check's verdict, plus the store failure behind it when the verdict is the fail mode's. */
export interface CheckOutcome {
  readonly result: ThrottleCheckResult;
  /** Set when the store could not answer in time and the verdict is the configured fail mode's. */
  readonly storeError?: Error;
}

const ALLOW: ThrottleCheckResult = { verdict: 'allow' };

/** User names are counted case-insensitively (and in one Unicode form): `Bob@Example.com` is `bob@example.com`. */
export function canonicalUser(user: string): string {
  return user.normalize('NFC').toLowerCase();
}

/** Decides throttle checks against the current config. */
export class ThrottlePolicy {
  constructor(
    private readonly counter: SlidingWindowCounter,
    private readonly config: () => ThrottleConfig,
    /** Without it every copy of a check counts (a frontend that does not hedge needs none). */
    private readonly claims?: CheckClaims,
  ) {}

  /**
   * Answers one check within `deadline`. When the store fails or is too slow, the verdict is the
   * fail mode's (allow, or deny with the IP message) and `storeError` says why.
   * @throws {PosternError} `DUPLICATE` for a copy of a check another instance has taken.
   * @throws anything else that is not a store failure (a bug).
   */
  async check(request: ThrottleCheckRequest, deadline: CheckDeadline): Promise<CheckOutcome> {
    const config = this.config();
    try {
      return { result: await deadline.run('throttle check', this.decide(request, config)) };
    } catch (error) {
      const timedOut = error instanceof PosternError && error.code === ErrorCode.Timeout;
      if (!timedOut && !(error instanceof CounterStoreError)) throw error;
      // A failed login is a report: there is nothing to refuse.
      const deny = config.failClosed && request.kind !== 'login-failed';
      return { result: deny ? { verdict: 'deny', reason: 'ip', message: config.ipMessage } : ALLOW, storeError: error };
    }
  }

  private decide(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    switch (request.kind) {
      case 'connect':
        return this.connect(request, config);
      case 'pre-login':
        return this.preLogin(request, config);
      case 'login-succeeded':
        return this.loginSucceeded(request, config);
      case 'login-failed':
        return this.loginFailed(request, config);
    }
  }

  private async connect(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const limit = config.ip[request.protocol];
    if (limit.limit === 0 || config.whitelist.matches(request.clientIp)) return ALLOW;
    if (this.claims) await this.claim(request);
    const admission = await this.counter.admit(['ip', limit.scope, subscriberAddress(request.clientIp)], limit.windowMs, limit.limit);
    return admission.admitted ? ALLOW : deny('ip', config.ipMessage, admission.retryAfterMs);
  }

  private async preLogin(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const user = canonicalUser(request.user!);
    const whitelisted = config.whitelist.matches(request.clientIp);
    // Most telling first: an address that keeps failing, then a user that keeps failing, then the success limit.
    const checks: [DenyReason, CounterId, WindowLimit, string][] = [];
    if (!whitelisted) checks.push(['ip-failures', ['ip-failures', subscriberAddress(request.clientIp)], config.ipFailures, config.ipMessage]);
    checks.push(['user-failures', ['user-failures', user], config.userFailures, config.userMessage]);
    checks.push(['user', ['user', user], config.user, config.userMessage]);
    const active = checks.filter(([, , limit]) => limit.limit > 0);
    // One read of the store for the three windows' open buckets.
    const snapshots = await this.counter.snapshots(active.map(([, id, limit]) => ({ id, windowMs: limit.windowMs })));
    for (const [i, [reason, , limit, message]] of active.entries()) {
      const snapshot: WindowSnapshot = snapshots[i]!;
      if (snapshot.count >= limit.limit) return deny(reason, message, snapshot.msUntilAtMost(limit.limit - 1));
    }
    return ALLOW;
  }

  private async loginSucceeded(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const limit = config.user;
    if (limit.limit === 0) return ALLOW;
    if (this.claims) await this.claim(request);
    const admission = await this.counter.admit(['user', canonicalUser(request.user!)], limit.windowMs, limit.limit);
    return admission.admitted ? ALLOW : deny('user', config.userMessage, admission.retryAfterMs);
  }

  private async loginFailed(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    // Counted only while a limit is set: an idle counter costs memcached writes for nothing.
    const user = config.userFailures.limit > 0;
    const ip = config.ipFailures.limit > 0 && !config.whitelist.matches(request.clientIp);
    if (!user && !ip) return ALLOW;
    if (this.claims) await this.claim(request);
    const writes: Promise<number>[] = [];
    if (user) writes.push(this.counter.record(['user-failures', canonicalUser(request.user!)], config.userFailures.windowMs));
    if (ip) writes.push(this.counter.record(['ip-failures', subscriberAddress(request.clientIp)], config.ipFailures.windowMs));
    await Promise.all(writes);
    return ALLOW;
  }

  /** Before counting: throws `DUPLICATE` when another copy of this check was claimed first. */
  private async claim(request: ThrottleCheckRequest): Promise<void> {
    if (!this.claims || request.checkId === undefined) return;
    if (!(await this.claims.first(request.checkId))) throw new PosternError(ErrorCode.Duplicate, 'this check was taken by another instance');
  }
}

function deny(reason: DenyReason, message: string, retryAfterMs: number): ThrottleCheckResult {
  return { verdict: 'deny', reason, message, retryAfterMs };
}
