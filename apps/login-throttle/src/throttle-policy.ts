/**
 * What each kind of throttle check counts and when it denies. No NATS, no Nest, no memcached:
 * counters go through {@link SlidingWindowCounter} and its store port.
 *
 * | kind | counts | denies when |
 * |---|---|---|
 * | `connect` | the client IP's connections for its protocol (whitelist skipped) | the IP's limit is reached |
 * | `pre-login` | nothing (a stranger cannot lock a user out by trying) | user's successful logins, user's failures or the IP's failures reached their limits |
 * | `login-succeeded` | the user's successful logins | a concurrent login on another node took the last place |
 * | `login-failed` | the user's and the IP's failed logins | never (it is a report) |
 */
import { ErrorCode, PosternError, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import type { Deadline } from '@postern/service-kit';
import { isIP } from 'node:net';
import { CounterStoreError, type CounterId, type SlidingWindowCounter, type WindowSnapshot } from './sliding-window';
import type { ThrottleConfig, WindowLimit } from './throttle-settings';

/** Why a check was denied (the contract's `reason`). */
export type DenyReason = Extract<ThrottleCheckResult, { verdict: 'deny' }>['reason'];

/** A check's verdict, plus the store failure behind it when the verdict is the fail mode's. */
export interface CheckOutcome {
  readonly result: ThrottleCheckResult;
  /** Set when the store could not answer in time and the verdict is the configured fail mode's. */
  readonly storeError?: Error;
}

const ALLOW: ThrottleCheckResult = { verdict: 'allow' };

/**
 * IPv6 clients are counted per /64: one subscriber's allocation. Counting single addresses would
 * let one host rotate through 2^64 of them. (The whitelist still matches exact addresses.)
 */
const IPV6_COUNTING_PREFIX_GROUPS = 4;

/** The form of a client address its counters are keyed by: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 as its /64. */
export function counterAddress(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = expandIpv6(ip);
  // ::ffff:a.b.c.d in either spelling (dotted or hex) is that IPv4 client, not one big IPv6 /64.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const [hi, lo] = [parseInt(groups[6]!, 16), parseInt(groups[7]!, 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups.slice(0, IPV6_COUNTING_PREFIX_GROUPS).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, in lower-case hex without leading zeros. */
function expandIpv6(ip: string): string[] {
  let text = ip.toLowerCase();
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/** User names are counted case-insensitively (and in one Unicode form): `Bob@Example.com` is `bob@example.com`. */
export function canonicalUser(user: string): string {
  return user.normalize('NFC').toLowerCase();
}

/** Decides throttle checks against the current config. */
export class ThrottlePolicy {
  constructor(
    private readonly counter: SlidingWindowCounter,
    private readonly config: () => ThrottleConfig,
  ) {}

  /**
   * Answers one check within `deadline`. When the store fails or is too slow, the verdict is the
   * fail mode's (allow, or deny with the IP message) and `storeError` says why.
   * @throws anything that is not a store failure (a bug).
   */
  async check(request: ThrottleCheckRequest, deadline: Deadline): Promise<CheckOutcome> {
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
    const admission = await this.counter.admit(['ip', limit.scope, counterAddress(request.clientIp)], limit.windowMs, limit.limit);
    return admission.admitted ? ALLOW : deny('ip', config.ipMessage, admission.retryAfterMs);
  }

  private async preLogin(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const user = canonicalUser(request.user!);
    const whitelisted = config.whitelist.matches(request.clientIp);
    // Most telling first: an address that keeps failing, then a user that keeps failing, then the success limit.
    const checks: [DenyReason, CounterId, WindowLimit, string][] = [];
    if (!whitelisted) checks.push(['ip-failures', ['ip-failures', counterAddress(request.clientIp)], config.ipFailures, config.ipMessage]);
    checks.push(['user-failures', ['user-failures', user], config.userFailures, config.userMessage]);
    checks.push(['user', ['user', user], config.user, config.userMessage]);
    const active = checks.filter(([, , limit]) => limit.limit > 0);
    const snapshots = await Promise.all(active.map(([, id, limit]) => this.counter.snapshot(id, limit.windowMs)));
    for (const [i, [reason, , limit, message]] of active.entries()) {
      const snapshot: WindowSnapshot = snapshots[i]!;
      if (snapshot.count >= limit.limit) return deny(reason, message, snapshot.msUntilAtMost(limit.limit - 1));
    }
    return ALLOW;
  }

  private async loginSucceeded(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const limit = config.user;
    if (limit.limit === 0) return ALLOW;
    const admission = await this.counter.admit(['user', canonicalUser(request.user!)], limit.windowMs, limit.limit);
    return admission.admitted ? ALLOW : deny('user', config.userMessage, admission.retryAfterMs);
  }

  private async loginFailed(request: ThrottleCheckRequest, config: ThrottleConfig): Promise<ThrottleCheckResult> {
    const writes: Promise<number>[] = [];
    // Counted only while a limit is set: an idle counter costs memcached writes for nothing.
    if (config.userFailures.limit > 0) writes.push(this.counter.record(['user-failures', canonicalUser(request.user!)], config.userFailures.windowMs));
    if (config.ipFailures.limit > 0 && !config.whitelist.matches(request.clientIp)) {
      writes.push(this.counter.record(['ip-failures', counterAddress(request.clientIp)], config.ipFailures.windowMs));
    }
    await Promise.all(writes);
    return ALLOW;
  }
}

function deny(reason: DenyReason, message: string, retryAfterMs: number): ThrottleCheckResult {
  return { verdict: 'deny', reason, message, retryAfterMs };
}
