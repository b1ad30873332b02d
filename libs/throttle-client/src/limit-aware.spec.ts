import type { ThrottleCheckRequest } from '@postern/contracts';
import { Deadline } from '@postern/service-kit';
import { describe, expect, it } from 'vitest';
import { LimitAwareThrottle, throttleCheckNeeded, type ThrottleLimits } from './limit-aware';
import type { ThrottlePort } from './throttle-client';

const OFF: ThrottleLimits = { ip: { imap: 0, pop3: 0, http: 0 }, user: 0, userFailures: 0, ipFailures: 0 };
const req = (kind: ThrottleCheckRequest['kind'], protocol: ThrottleCheckRequest['protocol'] = 'imap') => ({ kind, protocol });

describe('throttleCheckNeeded', () => {
  it('asks nothing when every limit is off (Zimbra defaults)', () => {
    for (const kind of ['connect', 'pre-login', 'login-succeeded', 'login-failed'] as const) expect(throttleCheckNeeded(req(kind), OFF)).toBe(false);
  });

  it.each<[string, Partial<ThrottleLimits>, ThrottleCheckRequest['kind'][]]>([
    ['an IMAP connection limit', { ip: { imap: 10, pop3: 0, http: 0 } }, ['connect']],
    ['a user login limit', { user: 5 }, ['pre-login', 'login-succeeded']],
    ['a per-user failure limit', { userFailures: 5 }, ['pre-login', 'login-failed']],
    ['a per-address failure limit', { ipFailures: 5 }, ['pre-login', 'login-failed']],
  ])('%s: asks for exactly the checks it affects', (_name, limits, expected) => {
    const all = { ...OFF, ...limits };
    const asked = (['connect', 'pre-login', 'login-succeeded', 'login-failed'] as const).filter((kind) => throttleCheckNeeded(req(kind), all));
    expect(asked).toEqual(expected);
  });

  it('a connection limit of one protocol does not make the others ask', () => {
    expect(throttleCheckNeeded(req('connect', 'pop3'), { ...OFF, ip: { imap: 10, pop3: 0, http: 0 } })).toBe(false);
  });
});

describe('LimitAwareThrottle', () => {
  it('passes needed checks to the service and reads the limits on every check', async () => {
    const asked: string[] = [];
    const inner: ThrottlePort = {
      check: async (request) => {
        asked.push(request.kind);
        return { verdict: 'deny', reason: 'ip', message: 'no' };
      },
    };
    let limits = OFF;
    const throttle = new LimitAwareThrottle(inner, () => limits);
    expect(await throttle.check({ kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1' }, new Deadline(1000))).toEqual({ verdict: 'allow' });
    limits = { ...OFF, ip: { imap: 1, pop3: 0, http: 0 } };
    expect(await throttle.check({ kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1' }, new Deadline(1000))).toMatchObject({ verdict: 'deny' });
    expect(asked).toEqual(['connect']);
  });
});
