/**
 * Skips the checks whose limits are all off. With Zimbra's defaults every limit is 0, and asking
 * the service anyway costs a NATS round trip per check (three per login) to hear "allow". The
 * frontend reads the same settings as the service (the same attributes, from the same config),
 * so it can tell when a question has only one answer.
 */
import { ipLoginLimit, type EffectiveSettings } from '@postern/config';
import type { LoginProtocol, ThrottleCheckRequest, ThrottleCheckResult } from '@postern/contracts';
import type { Deadline } from '@postern/service-kit';
import type { ThrottlePort } from './throttle-client';

/** The limits that decide whether a check can deny or count anything; 0 = off. */
export interface ThrottleLimits {
  /** Connections per address for each protocol (its own limit when set, else the generic one). */
  readonly ip: Readonly<Record<LoginProtocol, number>>;
  readonly user: number;
  readonly userFailures: number;
  readonly ipFailures: number;
}

/** The limits of the settings, read as the throttle service reads them (config's {@link ipLoginLimit}). */
export function throttleLimitsOf(s: EffectiveSettings): ThrottleLimits {
  return {
    ip: { imap: ipLoginLimit(s, 'imap').limit, pop3: ipLoginLimit(s, 'pop3').limit, http: ipLoginLimit(s, 'http').limit },
    user: s.zimbraReverseProxyUserLoginLimit,
    userFailures: s.posternFailedLoginUserLimit,
    ipFailures: s.posternFailedLoginIpLimit,
  };
}

/** True when the service could deny or count something for this request under these limits. */
export function throttleCheckNeeded(request: Pick<ThrottleCheckRequest, 'kind' | 'protocol'>, limits: ThrottleLimits): boolean {
  switch (request.kind) {
    case 'connect':
      return limits.ip[request.protocol] > 0;
    case 'pre-login':
      return limits.user > 0 || limits.userFailures > 0 || limits.ipFailures > 0;
    case 'login-succeeded':
      return limits.user > 0;
    case 'login-failed':
      return limits.userFailures > 0 || limits.ipFailures > 0;
  }
}

const ALLOW: ThrottleCheckResult = { verdict: 'allow' };

/** A throttle port that asks `inner` only when a limit could apply. `limits` is read per check (hot settings). */
export class LimitAwareThrottle implements ThrottlePort {
  constructor(
    private readonly inner: ThrottlePort,
    private readonly limits: () => ThrottleLimits,
  ) {}

  check(request: ThrottleCheckRequest, deadline: Deadline): Promise<ThrottleCheckResult> {
    return throttleCheckNeeded(request, this.limits()) ? this.inner.check(request, deadline) : Promise.resolve(ALLOW);
  }
}
