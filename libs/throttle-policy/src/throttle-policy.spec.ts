import { ErrorCode, PosternError, type ThrottleCheckRequest } from '@postern/contracts';
import { describe, expect, it } from 'vitest';
import { FakeClock, FakeCounterStore, storeDown } from './counter-store.fake';
import { CheckClaims } from './check-claims';
import { SlidingWindowCounter } from './sliding-window';
import { canonicalUser, ThrottlePolicy, type CheckDeadline } from './throttle-policy';
import { resolveThrottleSettings, type ThrottleConfig } from './throttle-settings';

/** A deadline of `ms` for a check (as service-kit's Deadline behaves). */
function within(ms: number): CheckDeadline {
  return {
    run: <T>(what: string, work: Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new PosternError(ErrorCode.Timeout, `${what}: no answer within ${ms} ms`)), ms);
        work.finally(() => clearTimeout(timer)).then(resolve, reject);
      }),
  };
}

const BASE = {
  zimbraReverseProxyIPLoginImapLimit: 3,
  zimbraReverseProxyIPLoginImapLimitTime: 60,
  zimbraReverseProxyIPLoginPop3Limit: 2,
  zimbraReverseProxyIPLoginPop3LimitTime: 60,
  zimbraReverseProxyUserLoginLimit: 2,
  zimbraReverseProxyUserLoginLimitTime: 60,
  zimbraReverseProxyIpThrottleMsg: 'go away, address',
  zimbraReverseProxyUserThrottleMsg: 'go away, user',
  zimbraReverseProxyIPThrottleWhitelist: ['198.51.100.7', '203.0.113.0/24', '2001:db8:feed::/48', '2001:db8::42'],
  posternFailedLoginUserLimit: 4,
  posternFailedLoginIpLimit: 6,
};

function setup(attributes: Record<string, unknown> = BASE) {
  const clock = new FakeClock();
  const store = new FakeCounterStore(clock);
  let config: ThrottleConfig = resolveThrottleSettings(attributes).config;
  const policy = new ThrottlePolicy(new SlidingWindowCounter(store, { now: clock.now }), () => config, new CheckClaims(store));
  // A second instance on the same store, as two login-throttle processes share memcached.
  const other = new ThrottlePolicy(new SlidingWindowCounter(store, { now: clock.now }), () => config, new CheckClaims(store));
  const check = async (request: ThrottleCheckRequest) => (await policy.check(request, within(1000))).result;
  const verdicts = async (n: number, request: ThrottleCheckRequest) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await check(request);
      out.push(r.verdict === 'allow' ? 'allow' : r.reason);
    }
    return out;
  };
  return { clock, store, policy, other, check, verdicts, reconfigure: (a: Record<string, unknown>) => (config = resolveThrottleSettings(a).config) };
}

const connect = (clientIp: string, protocol: 'imap' | 'pop3' | 'http' = 'imap'): ThrottleCheckRequest => ({ kind: 'connect', protocol, clientIp });
const login = (kind: 'pre-login' | 'login-succeeded' | 'login-failed', user: string, clientIp = '192.0.2.10'): ThrottleCheckRequest => ({
  kind,
  protocol: 'imap',
  clientIp,
  user,
});

describe('connect (IP limit)', () => {
  it('denies past the limit with the IP message and a retry hint', async () => {
    const { verdicts, check } = setup();
    expect(await verdicts(4, connect('192.0.2.1'))).toEqual(['allow', 'allow', 'allow', 'ip']);
    const denied = await check(connect('192.0.2.1'));
    expect(denied).toMatchObject({ verdict: 'deny', reason: 'ip', message: 'go away, address' });
    expect(denied.verdict === 'deny' && denied.retryAfterMs).toBeGreaterThan(0);
  });

  it('counts IMAP and POP3 apart when each has its own limit', async () => {
    const { verdicts } = setup();
    expect(await verdicts(4, connect('192.0.2.2', 'imap'))).toEqual(['allow', 'allow', 'allow', 'ip']);
    expect(await verdicts(3, connect('192.0.2.2', 'pop3'))).toEqual(['allow', 'allow', 'ip']);
  });

  it('shares the generic counter between protocols without their own limit; 0 everywhere is unlimited', async () => {
    const { verdicts } = setup({ zimbraReverseProxyIPLoginLimit: 2, zimbraReverseProxyIPLoginImapLimit: 5 });
    expect(await verdicts(1, connect('192.0.2.3', 'pop3'))).toEqual(['allow']);
    expect(await verdicts(2, connect('192.0.2.3', 'http'))).toEqual(['allow', 'ip']);
    expect(await verdicts(5, connect('192.0.2.3', 'imap'))).toEqual(['allow', 'allow', 'allow', 'allow', 'allow']);
    const unlimited = setup({});
    expect(await unlimited.verdicts(50, connect('192.0.2.3'))).not.toContain('ip');
    expect(unlimited.store.operations).toBe(0);
  });

  it('never counts or denies whitelisted addresses (v4, v6, CIDR of both, IPv4-mapped)', async () => {
    const { verdicts, store } = setup();
    for (const ip of ['198.51.100.7', '203.0.113.99', '2001:db8:feed:1::5', '2001:db8::42', '::ffff:198.51.100.7']) {
      expect(await verdicts(10, connect(ip))).not.toContain('ip');
    }
    expect(store.operations).toBe(0);
    expect(await verdicts(4, connect('198.51.100.8'))).toContain('ip');
  });

  it('counts an IPv6 /64 as one client, and an IPv4-mapped address as its IPv4 address', async () => {
    const { verdicts } = setup();
    expect(await verdicts(2, connect('2001:db8:1:2::1'))).toEqual(['allow', 'allow']);
    expect(await verdicts(2, connect('2001:0db8:0001:0002:ffff::9'))).toEqual(['allow', 'ip']);
    expect(await verdicts(2, connect('2001:db8:1:3::1'))).toEqual(['allow', 'allow']);
    expect(await verdicts(2, connect('192.0.2.77'))).toEqual(['allow', 'allow']);
    expect(await verdicts(2, connect('::ffff:192.0.2.77'))).toEqual(['allow', 'ip']);
  });
});

describe('user limit', () => {
  it('counts successful logins only; pre-login only reads', async () => {
    const { verdicts, store } = setup({ ...BASE, posternFailedLoginUserLimit: 0, posternFailedLoginIpLimit: 0 });
    for (let i = 0; i < 10; i++) {
      expect(await verdicts(1, login('pre-login', 'bob@example.com'))).toEqual(['allow']);
      expect(await verdicts(1, login('login-failed', 'bob@example.com'))).toEqual(['allow']);
    }
    expect(store.entries.size).toBe(0);
    expect(await verdicts(2, login('login-succeeded', 'bob@example.com'))).toEqual(['allow', 'allow']);
    expect(await verdicts(1, login('pre-login', 'bob@example.com'))).toEqual(['user']);
    // A success that raced past the pre-check on another node is refused too.
    expect(await verdicts(1, login('login-succeeded', 'bob@example.com'))).toEqual(['user']);
  });

  it('is case-insensitive on the user name and answers with the user message', async () => {
    const { verdicts, check } = setup();
    await verdicts(2, login('login-succeeded', 'Carol@Example.COM'));
    expect(await check(login('pre-login', 'carol@example.com'))).toMatchObject({ verdict: 'deny', reason: 'user', message: 'go away, user' });
    expect(canonicalUser('ÅSA@example.com')).toBe(canonicalUser('A\u030aSA@EXAMPLE.COM'));
  });
});

describe('failed-login limits', () => {
  it("denies a user's pre-login after too many failures, from any address", async () => {
    const { verdicts, check } = setup();
    for (let i = 0; i < 4; i++) await check(login('login-failed', 'dave@example.com', `192.0.2.${100 + i}`));
    expect(await check(login('pre-login', 'dave@example.com', '192.0.2.200'))).toMatchObject({
      verdict: 'deny',
      reason: 'user-failures',
      message: 'go away, user',
    });
    expect(await verdicts(1, login('pre-login', 'erin@example.com', '192.0.2.200'))).toEqual(['allow']);
  });

  it("denies an address's pre-logins after too many failures, for any user; the whitelist is exempt", async () => {
    const { verdicts, check } = setup();
    for (let i = 0; i < 6; i++) await check(login('login-failed', `user${i}@example.com`, '192.0.2.50'));
    expect(await check(login('pre-login', 'fresh@example.com', '192.0.2.50'))).toMatchObject({
      verdict: 'deny',
      reason: 'ip-failures',
      message: 'go away, address',
    });
    for (let i = 0; i < 20; i++) await check(login('login-failed', `user${i}@example.com`, '203.0.113.5'));
    expect(await verdicts(1, login('pre-login', 'fresh@example.com', '203.0.113.5'))).toEqual(['allow']);
  });

  it('names the address first when both address and user are over', async () => {
    const { verdicts, check } = setup();
    for (let i = 0; i < 6; i++) await check(login('login-failed', 'frank@example.com', '192.0.2.60'));
    expect(await verdicts(1, login('pre-login', 'frank@example.com', '192.0.2.60'))).toEqual(['ip-failures']);
    expect(await verdicts(1, login('pre-login', 'frank@example.com', '192.0.2.61'))).toEqual(['user-failures']);
  });
});

describe('hedged copies of a check (same checkId)', () => {
  it('are counted once across two instances: the second copy counts nothing and is answered DUPLICATE', async () => {
    const { policy, other, check } = setup();
    const copies = (request: ThrottleCheckRequest, id: string) =>
      [policy, other].map((p) =>
        p.check({ ...request, checkId: id }, within(1000)).then(
          (o) => o.result.verdict,
          (e: { code: string }) => e.code,
        ),
      );
    // IMAP limit 3 per address: three checks sent twice each fill it exactly, the fourth is denied.
    for (const id of ['c1', 'c2', 'c3']) expect((await Promise.all(copies(connect('192.0.2.77'), id))).sort()).toEqual(['DUPLICATE', 'allow']);
    expect(await check(connect('192.0.2.77'))).toMatchObject({ verdict: 'deny', reason: 'ip' });
    // User limit 2: the same.
    for (const id of ['s1', 's2']) expect((await Promise.all(copies(login('login-succeeded', 'dup@b.c'), id))).sort()).toEqual(['DUPLICATE', 'allow']);
    expect(await check(login('login-succeeded', 'dup@b.c'))).toMatchObject({ verdict: 'deny', reason: 'user' });
    // Failed logins (user limit 4): four reports sent twice each are four failures.
    for (const id of ['f1', 'f2', 'f3']) await Promise.all(copies(login('login-failed', 'dup2@b.c'), id));
    expect(await check(login('pre-login', 'dup2@b.c'))).toEqual({ verdict: 'allow' });
    await Promise.all(copies(login('login-failed', 'dup2@b.c'), 'f4'));
    expect(await check(login('pre-login', 'dup2@b.c'))).toMatchObject({ verdict: 'deny', reason: 'user-failures' });
  });

  it('a read-only check is answered by every copy; distinct checks of one session count apart', async () => {
    const { policy, other, check } = setup();
    const pre = { ...login('pre-login', 'ro@b.c'), checkId: 'p1' };
    expect([(await policy.check(pre, within(1000))).result, (await other.check(pre, within(1000))).result]).toEqual([
      { verdict: 'allow' },
      { verdict: 'allow' },
    ]);
    // One session id, three checks with ids of their own: all three count.
    for (const id of ['a', 'b', 'c'])
      expect((await policy.check({ ...connect('192.0.2.78'), requestId: 'session1', checkId: id }, within(1000))).result.verdict).toBe('allow');
    expect(await check(connect('192.0.2.78'))).toMatchObject({ verdict: 'deny' });
  });
});

describe('when the store fails', () => {
  it('fails open by default, reporting the error', async () => {
    const { policy, store } = setup();
    store.failure = storeDown();
    for (const request of [connect('192.0.2.1'), login('pre-login', 'a@b.c'), login('login-succeeded', 'a@b.c'), login('login-failed', 'a@b.c')]) {
      const outcome = await policy.check(request, within(1000));
      expect(outcome.result).toEqual({ verdict: 'allow' });
      expect(outcome.storeError?.name).toBe('CounterStoreError');
    }
  });

  it('fails closed when configured: denies with the IP message, but a failed-login report is still just a report', async () => {
    const { policy, store } = setup({ ...BASE, posternThrottleFailClosed: true });
    store.failure = storeDown();
    expect((await policy.check(connect('192.0.2.1'), within(1000))).result).toEqual({ verdict: 'deny', reason: 'ip', message: 'go away, address' });
    expect((await policy.check(login('pre-login', 'a@b.c'), within(1000))).result).toMatchObject({ verdict: 'deny', reason: 'ip' });
    expect((await policy.check(login('login-failed', 'a@b.c'), within(1000))).result).toEqual({ verdict: 'allow' });
  });

  it('answers a hung store within the deadline, with the fail mode', async () => {
    const { policy, store } = setup();
    store.stall = new Promise(() => undefined);
    const started = Date.now();
    const outcome = await policy.check(connect('192.0.2.1'), within(50));
    expect(outcome.result).toEqual({ verdict: 'allow' });
    expect(outcome.storeError).toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('does not hide a bug behind the fail mode', async () => {
    const { policy, store } = setup();
    store.failure = new TypeError('a bug');
    await expect(policy.check(connect('192.0.2.1'), within(1000))).rejects.toThrow('a bug');
  });

  it('follows a reconfiguration on the next check', async () => {
    const { verdicts, reconfigure } = setup();
    expect(await verdicts(4, connect('192.0.2.9'))).toEqual(['allow', 'allow', 'allow', 'ip']);
    reconfigure({ ...BASE, zimbraReverseProxyIPLoginImapLimit: 5 });
    expect(await verdicts(3, connect('192.0.2.9'))).toEqual(['allow', 'allow', 'ip']);
  });
});
