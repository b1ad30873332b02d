/**
 * The login throttle end to end: real nats-server and memcached, two login-throttle processes in
 * one queue group sharing their counters, checks sent through the frontend's ThrottleClient.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ThrottleCheckContract, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { Deadline } from '@postern/service-kit';
import { ThrottleClient, type ThrottleFallback } from '@postern/throttle-client';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  stopAll,
  waitFor,
  type MemcachedServer,
  type NatsServer,
  type ServiceProcess,
} from '../harness';

const IMAP_LIMIT = 10;
const POP3_LIMIT = 3;
/** Short enough to wait for; long enough that a burst of checks sits well inside it. */
const POP3_WINDOW_S = 2;
const USER_LIMIT = 3;
const USER_FAILURES = 8;
const IP_FAILURES = 12;
const STORE_TIMEOUT_MS = 3000;
/** Scheduling room on a loaded machine on top of a timeout or deadline: far below a hang. */
const SLACK_MS = 2000;
/** The frontend's budget per check here: above the store timeout, so the service always answers first. */
const CHECK_BUDGET_MS = STORE_TIMEOUT_MS + 5000;

const ATTRIBUTES = {
  zimbraReverseProxyIPLoginLimit: 0,
  zimbraReverseProxyIPLoginImapLimit: IMAP_LIMIT,
  zimbraReverseProxyIPLoginImapLimitTime: 60,
  zimbraReverseProxyIPLoginPop3Limit: POP3_LIMIT,
  zimbraReverseProxyIPLoginPop3LimitTime: POP3_WINDOW_S,
  zimbraReverseProxyUserLoginLimit: USER_LIMIT,
  zimbraReverseProxyUserLoginLimitTime: 60,
  zimbraReverseProxyIpThrottleMsg: 'Too many connections from your address',
  zimbraReverseProxyUserThrottleMsg: 'Too many logins for this account',
  zimbraReverseProxyIPThrottleWhitelist: ['198.51.100.7', '203.0.113.0/24', '2001:db8:feed::/48', '2001:db8::42'],
  // A hung memcached is given up on after this; a dead one is retried after 500 ms. Long enough that
  // a loaded machine never turns a slow answer into a fail-open allow (the IP limit tests assert
  // that no check fell back), short enough for the outage tests to wait for.
  zimbraReverseProxyCacheFetchTimeout: `${STORE_TIMEOUT_MS}ms`,
  zimbraReverseProxyCacheReconnectInterval: '500ms',
  posternFailedLoginUserLimit: USER_FAILURES,
  posternFailedLoginUserLimitTime: 60,
  posternFailedLoginIpLimit: IP_FAILURES,
  posternFailedLoginIpLimitTime: 60,
  posternThrottleFailClosed: false,
};

let nats: NatsServer;
let memcached: MemcachedServer;
let a: ServiceProcess;
let b: ServiceProcess;
let nc: NatsConnection;
let client: ThrottleClient;
/** Checks the client decided by its fail mode because no answer came in time (each one a possible allow past a limit). */
let clientFallbacks = 0;
let dir: string;
let configFile: string;

function check(request: ThrottleCheckRequest, budgetMs = CHECK_BUDGET_MS): Promise<ThrottleCheckResult> {
  return client.check(request, new Deadline(budgetMs));
}
const connectFrom = (clientIp: string, protocol: 'imap' | 'pop3' | 'http' = 'imap'): ThrottleCheckRequest => ({ kind: 'connect', protocol, clientIp });
const loginEvent = (kind: 'pre-login' | 'login-succeeded' | 'login-failed', user: string, clientIp: string): ThrottleCheckRequest => ({
  kind,
  protocol: 'imap',
  clientIp,
  user,
});
const label = (r: ThrottleCheckResult) => (r.verdict === 'allow' ? 'allow' : r.reason);

async function sequence(n: number, request: ThrottleCheckRequest): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(label(await check(request)));
  return out;
}

async function both(name: string, labels: Record<string, string> = {}): Promise<[number, number]> {
  return [await a.metric(name, labels), await b.metric(name, labels)];
}

/** Rewrites the config file, sends SIGHUP to both instances and waits until both have reloaded. */
async function reconfigure(attributes: Record<string, unknown>, result: 'ok' | 'refused' = 'ok'): Promise<void> {
  const name = 'postern_throttle_settings_reloads_total';
  const before = await both(name, { result });
  writeFileSync(configFile, JSON.stringify({ attributes }));
  for (const service of [a, b]) process.kill(service.process.pid, 'SIGHUP');
  await waitFor(`both instances to reload (${result})`, async () => {
    const now = await both(name, { result });
    return now[0] > before[0] && now[1] > before[1];
  });
}

beforeAll(async () => {
  [nats, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
  dir = await scratchDir('login-throttle');
  configFile = join(dir, 'postern.json');
  writeFileSync(configFile, JSON.stringify({ attributes: ATTRIBUTES }));
  const env = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_CONFIG_FILE: configFile };
  [a, b] = await Promise.all([startService('login-throttle', env), startService('login-throttle', env)]);
  nc = await connect({ servers: nats.url });
  // One copy per check, bounded by the caller's deadline only: these tests count what the service
  // does per check (hedged copies are drilled in nats-faults.test.ts).
  client = new ThrottleClient(nc, { hedgeAfterMs: 0, timeoutMs: 60_000, onFallback: () => clientFallbacks++ });
});

afterAll(async () => {
  await nc?.close();
  await stopAll();
  if (dir) await removeDir(dir);
});

/** Checks answered by a fail mode rather than the counters, service side and client side. */
async function fallbacks(): Promise<number> {
  const [storeA, storeB] = await both('postern_throttle_store_errors_total');
  return storeA + storeB + clientFallbacks;
}

describe('IP limit across two instances', () => {
  it(`admits exactly ${IMAP_LIMIT} of many concurrent connections from one address, and both instances serve`, async () => {
    const [a0, b0] = await both('postern_throttle_checks_total', { kind: 'connect' });
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      const before = await fallbacks();
      const results = await Promise.all(Array.from({ length: 4 * IMAP_LIMIT }, () => check(connectFrom(ip))));
      const fellBack = (await fallbacks()) - before;
      const admitted = results.filter((r) => r.verdict === 'allow').length;
      // The invariant holds whatever the load: only a check the counters did not decide can pass the limit.
      expect(admitted).toBeLessThanOrEqual(IMAP_LIMIT + fellBack);
      // And with the store timeout above, none fell back: the limit is exact.
      expect(fellBack).toBe(0);
      expect(admitted).toBe(IMAP_LIMIT);
      expect(results.find((r) => r.verdict === 'deny')).toMatchObject({ reason: 'ip', message: 'Too many connections from your address' });
    }
    const [a1, b1] = await both('postern_throttle_checks_total', { kind: 'connect' });
    expect(a1 - a0).toBeGreaterThan(0);
    expect(b1 - b0).toBeGreaterThan(0);
    expect(a1 - a0 + (b1 - b0)).toBe(3 * 4 * IMAP_LIMIT);
  });

  it('admits exactly the limit one request at a time, then denies every further one', async () => {
    expect(await sequence(IMAP_LIMIT + 5, connectFrom('192.0.2.4'))).toEqual([...Array<string>(IMAP_LIMIT).fill('allow'), ...Array<string>(5).fill('ip')]);
  });

  it(`forgets connections when the ${POP3_WINDOW_S} s window has passed (polling: denied attempts do not count)`, async () => {
    const ip = '192.0.2.20';
    const started = Date.now();
    expect(await sequence(POP3_LIMIT, connectFrom(ip, 'pop3'))).toEqual(Array<string>(POP3_LIMIT).fill('allow'));
    // Every counted connection happened before this instant.
    const lastCounted = Date.now();
    const denied = await check(connectFrom(ip, 'pop3'));
    expect(denied).toMatchObject({ verdict: 'deny', reason: 'ip' });
    const retryAfterMs = denied.verdict === 'deny' ? denied.retryAfterMs! : -1;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(POP3_WINDOW_S * 1000);
    await waitFor('the window to pass', async () => (await check(connectFrom(ip, 'pop3'))).verdict === 'allow', { timeoutMs: 10_000, intervalMs: 50 });
    // Events are forgotten between 0.9 W and W after they happened (one sub-bucket of ten): not
    // before 0.9 W after the first, and at the latest W after the last plus one polling check.
    expect(Date.now() - started).toBeGreaterThanOrEqual(POP3_WINDOW_S * 900 - 50);
    expect(Date.now() - lastCounted).toBeLessThan(POP3_WINDOW_S * 1000 + SLACK_MS);
  });

  it('counts each protocol with its own limit apart; no limit for a protocol means unlimited', async () => {
    const ip = '192.0.2.30';
    expect(await sequence(IMAP_LIMIT + 1, connectFrom(ip, 'imap'))).toContain('ip');
    expect(await sequence(POP3_LIMIT + 1, connectFrom(ip, 'pop3'))).toEqual([...Array<string>(POP3_LIMIT).fill('allow'), 'ip']);
    expect(await sequence(20, connectFrom(ip, 'http'))).toEqual(Array<string>(20).fill('allow'));
  });

  it('never throttles the whitelist: an address and a CIDR block of each family', async () => {
    for (const ip of ['198.51.100.7', '203.0.113.77', '2001:db8:feed:1::5', '2001:db8::42']) {
      expect(await sequence(IMAP_LIMIT + 5, connectFrom(ip))).toEqual(Array<string>(IMAP_LIMIT + 5).fill('allow'));
    }
    expect(await sequence(IMAP_LIMIT + 1, connectFrom('198.51.100.8'))).toContain('ip');
    expect(await sequence(IMAP_LIMIT + 1, connectFrom('2001:db8::43'))).toContain('ip');
  });
});

describe('user limit', () => {
  it('counts successful logins only: failures and pre-login checks do not use it up', async () => {
    const user = 'bob@example.com';
    for (let i = 0; i < 2 * USER_LIMIT; i++) {
      expect(label(await check(loginEvent('pre-login', user, `192.0.2.${100 + i}`)))).toBe('allow');
      expect(label(await check(loginEvent('login-failed', user, `192.0.2.${100 + i}`)))).toBe('allow');
    }
    expect(await sequence(USER_LIMIT, loginEvent('login-succeeded', user, '192.0.2.99'))).toEqual(Array<string>(USER_LIMIT).fill('allow'));
    expect(await check(loginEvent('pre-login', 'BOB@Example.com', '192.0.2.98'))).toMatchObject({
      verdict: 'deny',
      reason: 'user',
      message: 'Too many logins for this account',
    });
    expect(label(await check(loginEvent('pre-login', 'bobby@example.com', '192.0.2.98')))).toBe('allow');
  });
});

describe('failed-login limits', () => {
  it("refuses a user's pre-login after too many failures from any addresses", async () => {
    const user = 'carol@example.com';
    for (let i = 0; i < USER_FAILURES; i++) await check(loginEvent('login-failed', user, `192.0.2.${150 + i}`));
    expect(await check(loginEvent('pre-login', user, '192.0.2.199'))).toMatchObject({
      verdict: 'deny',
      reason: 'user-failures',
      message: 'Too many logins for this account',
    });
  });

  it("refuses an address's pre-logins after too many failures for any users; not a whitelisted one", async () => {
    for (let i = 0; i < IP_FAILURES; i++) await check(loginEvent('login-failed', `guess${i}@example.com`, '192.0.2.60'));
    expect(await check(loginEvent('pre-login', 'fresh@example.com', '192.0.2.60'))).toMatchObject({
      verdict: 'deny',
      reason: 'ip-failures',
      message: 'Too many connections from your address',
    });
    for (let i = 0; i < IP_FAILURES + 5; i++) await check(loginEvent('login-failed', `guess${i}@example.org`, '203.0.113.60'));
    expect(label(await check(loginEvent('pre-login', 'fresh@example.org', '203.0.113.60')))).toBe('allow');
  });
});

describe('requests', () => {
  it('answers a malformed request with BAD_REQUEST and a metric, and keeps serving', async () => {
    const name = 'postern_throttle_rejected_total';
    const before = await both(name);
    const bad: unknown[] = [
      { kind: 'pre-login', protocol: 'imap', clientIp: '192.0.2.1' },
      { kind: 'connect', protocol: 'imap', clientIp: '192.0.2.300' },
      { kind: 'connect', protocol: 'smtp', clientIp: '192.0.2.1' },
      { kind: 'pre-login', protocol: 'imap', clientIp: '192.0.2.1', user: 'alice\r\nset x 0 0 1' },
      { kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1', extra: true },
      'not json at all',
    ];
    for (const payload of bad) {
      const reply = await nc.request(ThrottleCheckContract.subject, new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)), {
        timeout: 5000,
      });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    const after = await both(name);
    expect(after[0] + after[1] - before[0] - before[1]).toBe(bad.length);
    expect(label(await check(connectFrom('192.0.2.40')))).toBe('allow');
  });

  it('exposes checks, denials and latency in /metrics, without users or addresses', async () => {
    const text = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
    expect(text).toMatch(/postern_throttle_checks_total\{[^}]*kind="connect"[^}]*verdict="deny"/);
    expect(text).toMatch(/postern_throttle_denials_total\{[^}]*reason="ip"/);
    expect(text).toContain('postern_throttle_check_duration_seconds_bucket');
    expect(text).not.toMatch(/example\.com|192\.0\.2\./);
  });
});

describe('SIGHUP', () => {
  it('changes a limit without a restart, and refuses an invalid config keeping the old one', async () => {
    expect(await sequence(3, connectFrom('192.0.2.71', 'http'))).toEqual(['allow', 'allow', 'allow']);
    try {
      await reconfigure({ ...ATTRIBUTES, zimbraReverseProxyIPLoginLimit: 2 });
      expect(await sequence(3, connectFrom('192.0.2.72', 'http'))).toEqual(['allow', 'allow', 'ip']);
      await reconfigure({ ...ATTRIBUTES, zimbraReverseProxyIPLoginLimit: 'lots' }, 'refused');
      expect(await sequence(3, connectFrom('192.0.2.73', 'http'))).toEqual(['allow', 'allow', 'ip']);
    } finally {
      await reconfigure(ATTRIBUTES);
    }
    expect(await sequence(3, connectFrom('192.0.2.74', 'http'))).toEqual(['allow', 'allow', 'allow']);
  });
});

describe('memcached outages', () => {
  const storeErrors = async () => (await both('postern_throttle_store_errors_total')).reduce((x, y) => x + y, 0);
  let probe = 0;
  /** True when a burst of checks (spread over both instances by the queue group) met no store error. */
  const bothCounting = async () => {
    const before = await storeErrors();
    await Promise.all(Array.from({ length: 20 }, () => check(connectFrom(`10.99.${(probe >> 8) & 255}.${probe++ & 255}`))));
    return (await storeErrors()) === before;
  };

  it('a hung memcached: answered within the fetch timeout, never a hang', async () => {
    process.kill(memcached.process.pid, 'SIGSTOP');
    try {
      const before = await storeErrors();
      const started = Date.now();
      expect(await check(connectFrom('192.0.2.80'))).toEqual({ verdict: 'allow' });
      expect(Date.now() - started).toBeLessThan(STORE_TIMEOUT_MS + SLACK_MS);
      expect(await storeErrors()).toBeGreaterThan(before);
    } finally {
      process.kill(memcached.process.pid, 'SIGCONT');
    }
    await waitFor('both instances counting again', bothCounting, { timeoutMs: 10_000, intervalMs: 100 });
  });

  it('stopped then restarted: fail open allows with a metric, fail closed denies, both recover', async () => {
    const port = memcached.port;
    await memcached.stop();
    try {
      const before = await storeErrors();
      // Far past the limit: nothing is counted, everything is allowed.
      expect(await sequence(IMAP_LIMIT + 3, connectFrom('192.0.2.82'))).toEqual(Array<string>(IMAP_LIMIT + 3).fill('allow'));
      expect((await storeErrors()) - before).toBe(IMAP_LIMIT + 3);
      const [openA, openB] = await both('postern_throttle_store_errors_total', { mode: 'fail-open' });
      expect(openA + openB).toBeGreaterThanOrEqual(IMAP_LIMIT + 3);

      await reconfigure({ ...ATTRIBUTES, posternThrottleFailClosed: true });
      expect(await check(connectFrom('192.0.2.83'))).toEqual({ verdict: 'deny', reason: 'ip', message: 'Too many connections from your address' });
      expect(await check(loginEvent('pre-login', 'dave@example.com', '192.0.2.83'))).toMatchObject({ verdict: 'deny', reason: 'ip' });
      const [closedA, closedB] = await both('postern_throttle_denials_total', { reason: 'store-unavailable' });
      expect(closedA + closedB).toBeGreaterThanOrEqual(2);
    } finally {
      memcached = await startMemcached({ port });
    }
    // The dead server is retried after the reconnect interval; then counting resumes, fail closed or not.
    await waitFor('both instances counting again', bothCounting, { timeoutMs: 10_000, intervalMs: 100 });
    expect(await sequence(IMAP_LIMIT, connectFrom('192.0.2.85'))).toEqual(Array<string>(IMAP_LIMIT).fill('allow'));
    expect(label(await check(connectFrom('192.0.2.85')))).toBe('ip');
    await reconfigure(ATTRIBUTES);
  });
});

describe('the frontend client', () => {
  it('applies its own fail mode when no instance answers or the deadline passes', async () => {
    const lonely = await startNats({ jetstream: false });
    const lonelyNc = await connect({ servers: lonely.url });
    try {
      const seen: ThrottleFallback[] = [];
      const open = new ThrottleClient(lonelyNc, { onFallback: (f) => seen.push(f) });
      expect(await open.check(connectFrom('192.0.2.90'), new Deadline(2000))).toEqual({ verdict: 'allow' });
      const closed = new ThrottleClient(lonelyNc, { failClosed: true, failClosedMessage: 'Try again later', onFallback: (f) => seen.push(f) });
      expect(await closed.check(connectFrom('192.0.2.90'), new Deadline(2000))).toEqual({ verdict: 'deny', reason: 'ip', message: 'Try again later' });

      // An instance that takes the request and never answers: bounded by the login's deadline.
      lonelyNc.subscribe(ThrottleCheckContract.subject, { queue: ThrottleCheckContract.queue, callback: () => undefined });
      await lonelyNc.flush();
      const started = Date.now();
      expect(await closed.check(connectFrom('192.0.2.90'), new Deadline(300))).toMatchObject({ verdict: 'deny' });
      expect(Date.now() - started).toBeLessThan(300 + SLACK_MS);
      expect(seen.map((f) => [f.code, f.verdict])).toEqual([
        ['UNAVAILABLE', 'allow'],
        ['UNAVAILABLE', 'deny'],
        ['TIMEOUT', 'deny'],
      ]);
    } finally {
      await lonelyNc.close();
      await lonely.stop();
    }
  });
});

describe('shutdown', () => {
  it('SIGTERM drains: a steady stream of checks loses none while one instance stops', async () => {
    let sent = 0;
    const failures: unknown[] = [];
    let streaming = true;
    const stream = (async () => {
      while (streaming) {
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            const n = sent++;
            try {
              const r = await check(connectFrom(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`));
              if (r.verdict !== 'allow') failures.push(r);
            } catch (error) {
              failures.push(error);
            }
          }),
        );
      }
    })();
    await waitFor('some checks in flight', async () => sent > 200);
    await a.stop();
    const afterStop = sent;
    await waitFor('the stream to go on after the stop', async () => sent > afterStop + 200);
    streaming = false;
    await stream;
    expect(failures).toEqual([]);
    expect(a.process.exited).toBe(true);
  });
});
