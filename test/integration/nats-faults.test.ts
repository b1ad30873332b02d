/**
 * Fault drills: with the login limits on (very high: every login is checked, none is denied), a
 * stream of IMAP logins keeps going while the NATS server or throttle instances are killed. Real
 * Dovecot, slapd, route-lookup, login-throttle, memcached and nats-server processes.
 *
 * Fail open, no login fails: a killed instance's checks are hedged to the other one, a lost bus or
 * a lost only instance makes the check take the fail mode at once. Fail closed, the refusals come
 * at once (the frontend's per-check budget is set to 10 s with no hedge, so a refusal that waited
 * for it could not pass for immediate) and are counted. With two NATS servers every service
 * reconnects to the other one and serves again. A check sent twice (a hedge) is counted once
 * across two throttle instances, even when one of them is stuck.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, PosternError, ThrottleCheckContract, type ThrottleCheckRequest } from '@postern/contracts';
import { Deadline, requestReply } from '@postern/service-kit';
import { ThrottleClient } from '@postern/throttle-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_PASSWORDS,
  directoryLdifFor,
  LineClient,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMemcached,
  startNats,
  startNatsCluster,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type MailboxServers,
  type NatsServer,
  type ServiceProcess,
  type SlapdServer,
  LIMITS_ON_NEVER_DENY,
  startMailProxy,
  type MailProxyProcess,
} from '../harness';

const LIMITS_ON = LIMITS_ON_NEVER_DENY;
/** Frontends that ask the throttle service over NATS: what these faults are about. */
const FRONTEND = {
  ...LIMITS_ON,
  posternThrottleChecks: 'service',
  zimbraReverseProxyAuthWaitInterval: '100ms',
  zimbraReverseProxySSLToUpstreamEnabled: false,
  zimbraReverseProxyImapStartTlsMode: 'off',
  zimbraReverseProxyPop3StartTlsMode: 'off',
  zimbraReverseProxyMailMode: 'http',
};
/** Fail closed, with a per-check budget far longer than any immediate answer and no hedge. */
const FAIL_CLOSED = { posternThrottleFailClosed: true, posternThrottleCheckTimeout: '10s', posternThrottleCheckHedgeDelay: '0' };
/** Well under the 10 s a refusal would take if it waited for the check's budget. */
const IMMEDIATE_MS = 5_000;
const IP_MESSAGE = 'Login rejected from this IP';
const USERS = ['alice@example.com', 'bob@example.com', 'carol@example.org'] as const;
/** Concurrent clients of a load: enough to have checks in flight when a part dies, few enough for a loaded 2-core machine. */
const CLIENTS = 6;
/** Logins that must succeed after a fault before it counts as survived. */
const LOGINS_AFTER_FAULT = 30;

let dir: string;

function startFrontend(name: string, common: Record<string, string>, attributes: Record<string, unknown> = {}): Promise<MailProxyProcess> {
  return startMailProxy(dir, name, common, { ...FRONTEND, ...attributes });
}

function startThrottle(common: Record<string, string>, attributes: Record<string, unknown> = LIMITS_ON): Promise<ServiceProcess> {
  const file = join(dir, `throttle-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ attributes }));
  return startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: file });
}

function startLookup(common: Record<string, string>, slapd: SlapdServer): Promise<ServiceProcess> {
  return startService('route-lookup', {
    ...common,
    POSTERN_LDAP_URLS: slapd.url,
    POSTERN_LDAP_BIND_DN: slapd.rootDn,
    POSTERN_LDAP_BIND_PASSWORD: slapd.rootPassword,
    POSTERN_LDAP_BASE_DN: slapd.baseDn,
  });
}

/** One IMAP login and logout; resolves the greeting when the proxy refused the connection. */
async function imapLogin(port: number, user: string): Promise<{ ok: boolean; detail: string }> {
  const client = await LineClient.connect({ port, timeoutMs: 30_000 });
  try {
    const greeting = await client.line();
    if (!greeting.startsWith('* OK')) return { ok: false, detail: greeting };
    client.send(`a LOGIN ${user} ${DEMO_PASSWORDS[user]!}\r\n`);
    const reply = (await client.until('a ')).at(-1)!;
    if (!reply.startsWith('a OK')) return { ok: false, detail: reply };
    client.send('b LOGOUT\r\n');
    await client.until('b ');
    return { ok: true, detail: reply };
  } finally {
    client.close();
  }
}

/** {@link CLIENTS} clients logging in and out in a loop until stopped. */
class LoginLoad {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(port: number) {
    this.workers = Array.from({ length: CLIENTS }, async (_, k) => {
      for (let i = k; this.running; i += CLIENTS) {
        const result = await imapLogin(port, USERS[i % USERS.length]!).catch((error: unknown) => ({ ok: false, detail: (error as Error).message }));
        if (result.ok) this.ok++;
        else this.failures.push(result.detail);
      }
    });
  }

  /** Waits until `n` more logins have succeeded. */
  async more(n: number, what: string): Promise<void> {
    const target = this.ok + n;
    await waitFor(`${n} logins ${what}`, async () => this.ok >= target || this.failures.length > 0, { timeoutMs: 90_000 });
  }

  async stop(): Promise<{ ok: number; failures: string[] }> {
    this.running = false;
    await Promise.all(this.workers);
    return { ok: this.ok, failures: this.failures };
  }
}

/** Opens a connection to a fail-closed proxy and returns its greeting and how long it took. */
async function greeting(port: number): Promise<{ line: string; ms: number }> {
  const started = performance.now();
  const client = await LineClient.connect({ port, timeoutMs: 30_000 });
  try {
    return { line: await client.line(), ms: performance.now() - started };
  } finally {
    client.close();
  }
}

const checksAnswered = (throttle: ServiceProcess) => throttle.metric('postern_throttle_checks_total');
const fallbacks = (proxy: MailProxyProcess, labels: Record<string, string> = {}) => proxy.service.metric('postern_mail_throttle_fallbacks_total', labels);

/** Three connections to the fail-closed proxy are refused with the IP message, at once, and counted. */
async function expectImmediateRefusals(closed: MailProxyProcess): Promise<void> {
  const before = await fallbacks(closed, { verdict: 'deny', code: ErrorCode.Unavailable });
  for (let i = 0; i < 3; i++) {
    const { line, ms } = await greeting(closed.imap);
    expect(line).toBe(`* BYE ${IP_MESSAGE}`);
    expect(ms).toBeLessThan(IMMEDIATE_MS);
  }
  expect((await fallbacks(closed, { verdict: 'deny', code: ErrorCode.Unavailable })) - before).toBe(3);
}

beforeAll(async () => {
  dir = await scratchDir('nats-faults');
});

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('one NATS server, limits on: instances and the bus die under a login load', () => {
  let upstreams: MailboxServers;
  let nats: NatsServer;
  let common: Record<string, string>;
  let throttles: ServiceProcess[];
  let open: MailProxyProcess;
  let closed: MailProxyProcess;
  /** Fail closed too, but deciding its checks itself against memcached (the default): the bus is not on its path. */
  let localClosed: MailProxyProcess;

  beforeAll(async () => {
    upstreams = await startMailboxServers();
    const [natsServer, memcached, slapd] = await Promise.all([
      startNats({ jetstream: false }),
      startMemcached(),
      startSlapd({ fixture: directoryLdifFor(upstreams) }),
    ]);
    nats = natsServer;
    common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
    const started = await Promise.all([
      startLookup(common, slapd),
      startThrottle(common),
      startThrottle(common),
      startFrontend('open', common),
      startFrontend('closed', common, FAIL_CLOSED),
      startFrontend('local-closed', common, { ...FAIL_CLOSED, posternThrottleChecks: 'local' }),
    ]);
    throttles = [started[1], started[2]];
    open = started[3];
    closed = started[4];
    localClosed = started[5];
    // Every route cached: the drills are about the throttle and the bus, not the directory.
    for (const user of USERS) expect((await imapLogin(open.imap, user)).ok).toBe(true);
  }, 180_000);

  it('one of two throttle instances killed: no login fails, the other instance answers', async () => {
    const load = new LoginLoad(open.imap);
    await load.more(10, 'before the kill');
    await throttles[0]!.process.kill();
    const survivorBefore = await checksAnswered(throttles[1]!);
    await load.more(LOGINS_AFTER_FAULT, 'after the kill');
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(await checksAnswered(throttles[1]!)).toBeGreaterThan(survivorBefore);
  });

  it('the only throttle instance killed: fail open lets every login in, fail closed refuses at once, both counted', async () => {
    const load = new LoginLoad(open.imap);
    await load.more(10, 'before the kill');
    await throttles[1]!.process.kill();
    const fallbacksAtKill = await fallbacks(open);
    await load.more(LOGINS_AFTER_FAULT, 'with no throttle instance');
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    // "No responders": the fail mode at once, not after the budget.
    expect(await fallbacks(open, { code: ErrorCode.Unavailable, verdict: 'allow' })).toBeGreaterThan(fallbacksAtKill);
    await expectImmediateRefusals(closed);

    // A new instance: checks are answered again.
    throttles.push(await startThrottle(common));
    await waitFor('a check answered by the new instance', async () => (await imapLogin(open.imap, USERS[0])).ok && (await checksAnswered(throttles[2]!)) > 0);
  });

  it('the NATS server killed and restarted: no login fails meanwhile, fail closed refuses at once (unless it decides itself), and all serve again after', async () => {
    const load = new LoginLoad(open.imap);
    await load.more(10, 'before the kill');
    await nats.process.kill();
    const fallbacksAtKill = await fallbacks(open);
    await load.more(LOGINS_AFTER_FAULT, 'while the bus is down');
    expect(await fallbacks(open, { code: ErrorCode.Unavailable, verdict: 'allow' })).toBeGreaterThan(fallbacksAtKill);
    await expectImmediateRefusals(closed);
    // A frontend that decides its checks itself still counts them, and greets: no fail mode.
    const decidedBefore = await localClosed.service.metric('postern_throttle_checks_total', { kind: 'connect', verdict: 'allow' });
    expect((await greeting(localClosed.imap)).line).toMatch(/^\* OK/);
    expect(await localClosed.service.metric('postern_throttle_checks_total', { kind: 'connect', verdict: 'allow' })).toBe(decidedBefore + 1);
    expect(await fallbacks(localClosed)).toBe(0);

    nats = await startNats({ jetstream: false, port: nats.port });
    const answeredBefore = await checksAnswered(throttles[2]!);
    // The proxy and the throttle reconnect and subscribe again: checks reach the service again.
    await waitFor('checks answered after the restart', async () => (await checksAnswered(throttles[2]!)) > answeredBefore, { timeoutMs: 60_000 });
    await load.more(10, 'after the restart');
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    await waitFor('the fail-closed proxy greeting again', async () => (await greeting(closed.imap)).line.startsWith('* OK'), { timeoutMs: 30_000 });
  });
});

describe('a check sent twice is counted once across two throttle instances', () => {
  const USER_LIMIT = 5;
  const IP_LIMIT = 16;
  let nc: NatsConnection;
  let throttles: ServiceProcess[];

  beforeAll(async () => {
    const [nats, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
    const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
    const limits = { zimbraReverseProxyUserLoginLimit: USER_LIMIT, zimbraReverseProxyIPLoginImapLimit: IP_LIMIT };
    throttles = await Promise.all([startThrottle(common, limits), startThrottle(common, limits)]);
    nc = await connect({ servers: nats.url });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
  });

  it('both copies of every check to the queue group: one copy counts, the other is DUPLICATE; the limit stays exact', async () => {
    const CHECKS = 12;
    const outcomes = await Promise.all(
      Array.from({ length: CHECKS }, async (_, i) => {
        const request: ThrottleCheckRequest = {
          kind: 'login-succeeded',
          protocol: 'imap',
          clientIp: '192.0.2.1',
          user: 'twice@example.com',
          checkId: `twice-${i}`,
        };
        const copies = await Promise.all(
          [0, 1].map(() =>
            requestReply(nc, ThrottleCheckContract, request, 10_000).then(
              (r) => r.verdict,
              (e: PosternError) => e.code,
            ),
          ),
        );
        return copies.sort();
      }),
    );
    const answers = outcomes.map((copies) => copies.filter((c) => c !== ErrorCode.Duplicate));
    expect(outcomes.every((copies) => copies.includes(ErrorCode.Duplicate))).toBe(true);
    expect(answers.flat().filter((v) => v === 'allow')).toHaveLength(USER_LIMIT);
    expect(answers.flat().filter((v) => v === 'deny')).toHaveLength(CHECKS - USER_LIMIT);
    const duplicates = await Promise.all(throttles.map((t) => t.metric('postern_throttle_duplicate_checks_total')));
    expect(duplicates.reduce((a, b) => a + b, 0)).toBe(CHECKS);
  });

  it('with one instance stuck, late checks are hedged to the other; every copy beyond the first is DUPLICATE and the limit stays exact', async () => {
    const stuck = throttles[0]!;
    let hedges = 0;
    let fallbacksSeen = 0;
    // A budget long enough for the stuck instance to wake and answer the checks whose both copies it got.
    const client = new ThrottleClient(nc, { timeoutMs: 60_000, hedgeAfterMs: 50, onHedge: () => hedges++, onFallback: () => fallbacksSeen++ });
    const check = () => client.check({ kind: 'connect', protocol: 'imap', clientIp: '192.0.2.2' }, new Deadline(90_000));
    const duplicates = async () => (await Promise.all(throttles.map((t) => t.metric('postern_throttle_duplicate_checks_total')))).reduce((a, b) => a + b, 0);
    const duplicatesBefore = await duplicates();
    stuck.process.child.kill('SIGSTOP');
    let pending: Promise<string[]>;
    try {
      // About half the first copies reach the stuck instance; with this many, at least one surely does.
      pending = Promise.all(Array.from({ length: IP_LIMIT }, () => check().then((r) => r.verdict)));
      await waitFor('a hedge', async () => hedges > 0, { timeoutMs: 30_000 });
    } finally {
      stuck.process.child.kill('SIGCONT');
    }
    expect(await pending).toEqual(Array<string>(IP_LIMIT).fill('allow'));
    expect(fallbacksSeen).toBe(0);
    // Every check counted once: each copy beyond the first was answered DUPLICATE (the stuck one's late, to no one).
    await waitFor('every copy answered', async () => (await duplicates()) - duplicatesBefore === hedges, { timeoutMs: 30_000 });
    expect(await check()).toMatchObject({ verdict: 'deny', reason: 'ip' });
  });
});

describe('two NATS servers in POSTERN_NATS_URLS: losing either costs no login', () => {
  it('every service reconnects to the other server and serves again', async () => {
    const cluster = await startNatsCluster(2);
    const upstreams = await startMailboxServers();
    const [memcached, slapd] = await Promise.all([startMemcached(), startSlapd({ fixture: directoryLdifFor(upstreams) })]);
    const common = { POSTERN_NATS_URLS: cluster.urls.join(','), POSTERN_MEMCACHED_SERVERS: memcached.address };
    const [, throttle, proxy] = await Promise.all([startLookup(common, slapd), startThrottle(common), startFrontend('clustered', common)]);
    // The routes between the servers are up once a login's checks reach the throttle, wherever each is connected.
    const answered = async () => {
      const before = await checksAnswered(throttle);
      return (await imapLogin(proxy.imap, USERS[1])).ok && (await checksAnswered(throttle)) > before;
    };
    await waitFor('the cluster routes', answered, { timeoutMs: 30_000 });

    // Each server in turn: whichever one a service was on, it loses it once.
    for (const i of [0, 1]) {
      const load = new LoginLoad(proxy.imap);
      await load.more(10, `before server ${i} is killed`);
      await cluster.servers[i]!.process.kill();
      await load.more(LOGINS_AFTER_FAULT, `without server ${i}`);
      await waitFor(`checks answered again without server ${i}`, answered, { timeoutMs: 60_000 });
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      await cluster.restart(i);
      await waitFor(`server ${i} back in the cluster`, answered, { timeoutMs: 30_000 });
    }
  });
});
