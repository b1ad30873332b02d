/**
 * The throttle as clients meet it: two mail-proxy processes share one count in memcached, so a
 * limit of N across both proxies is enforced at N; IMAP and POP3 clients see the configured
 * messages. proxy-a asks two login-throttle processes over NATS, proxy-b decides its checks itself
 * (`posternThrottleChecks: local`) against the same counters: every test alternates between them,
 * so each limit below is also one limit across the two ways of checking. Real Dovecot, slapd,
 * route-lookup, memcached and NATS.
 *
 * Every test connects from its own loopback address (127.0.0.x) so the IP counters of one test
 * never reach another's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  DEMO_PASSWORDS,
  directoryLdifFor,
  LineClient,
  PATIENT_BUDGETS,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  type ServiceProcess,
  startMailProxy,
  type MailProxyProcess,
  waitFor,
} from '../harness';

const IMAP_IP_LIMIT = 4;
const POP3_IP_LIMIT = 2;
const USER_LIMIT = 3;
const IP_MESSAGE = 'Too many connections from your address';
const USER_MESSAGE = 'Too many logins for this account';

const ATTRIBUTES = {
  zimbraReverseProxyIPLoginImapLimit: IMAP_IP_LIMIT,
  zimbraReverseProxyIPLoginImapLimitTime: 600,
  zimbraReverseProxyIPLoginPop3Limit: POP3_IP_LIMIT,
  zimbraReverseProxyIPLoginPop3LimitTime: 600,
  zimbraReverseProxyUserLoginLimit: USER_LIMIT,
  zimbraReverseProxyUserLoginLimitTime: 600,
  zimbraReverseProxyIpThrottleMsg: IP_MESSAGE,
  zimbraReverseProxyUserThrottleMsg: USER_MESSAGE,
  zimbraReverseProxyAuthWaitInterval: '100ms',
  zimbraReverseProxySSLToUpstreamEnabled: false,
  zimbraReverseProxyImapStartTlsMode: 'off',
  zimbraReverseProxyPop3StartTlsMode: 'off',
  zimbraReverseProxyMailMode: 'http',
  posternThrottledIpLogWindow: '3s',
};

let dir: string;
let proxies: [MailProxyProcess, MailProxyProcess];
let throttles: ServiceProcess[];

function startFrontend(name: string, env: Record<string, string>, checks: 'service' | 'local'): Promise<MailProxyProcess> {
  return startMailProxy(dir, name, env, { ...ATTRIBUTES, ...PATIENT_BUDGETS, posternThrottleChecks: checks });
}

beforeAll(async () => {
  dir = await scratchDir('mail-throttle');
  const upstreams = await startMailboxServers();
  const [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: directoryLdifFor(upstreams) })]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  const throttleConfig = join(dir, 'throttle.json');
  writeFileSync(throttleConfig, JSON.stringify({ attributes: ATTRIBUTES }));
  const started = await Promise.all([
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleConfig }),
    startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleConfig }),
    startFrontend('proxy-a', common, 'service'),
    startFrontend('proxy-b', common, 'local'),
  ]);
  throttles = [started[1], started[2]];
  proxies = [started[3], started[4]];
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

/** Connects from `from` to proxy `i % 2` and returns the client with its first line. */
async function open(i: number, protocol: 'imap' | 'pop3', from: string): Promise<{ client: LineClient; greeting: string }> {
  const client = await LineClient.connect({ port: proxies[i % 2]![protocol], localAddress: from });
  return { client, greeting: await client.line() };
}

async function imapLogin(i: number, from: string, user: string, password: string): Promise<string[]> {
  const { client, greeting } = await open(i, 'imap', from);
  expect(greeting).toMatch(/^\* OK/);
  client.send(`l${i} LOGIN ${user} ${password}\r\n`);
  const lines = await client.until(`l${i} `);
  client.close();
  return lines;
}

/** The JSON log lines of a proxy with this `msg` from client address `rip`. */
function logLines(proxy: MailProxyProcess, msg: string, rip: string): Record<string, unknown>[] {
  return proxy.service.process
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg && line.rip === rip);
}

const sum = async (name: string, labels: Record<string, string>) =>
  (await Promise.all(proxies.map((p) => p.service.metric(name, labels)))).reduce((a, b) => a + b, 0);

describe('throttle through two mail proxies and two throttle instances', () => {
  it('IMAP: the IP limit counts connections across both proxies, then says BYE with the IP message', async () => {
    const greetings: string[] = [];
    for (let i = 0; i < IMAP_IP_LIMIT + 2; i++) {
      const { client, greeting } = await open(i, 'imap', '127.0.0.50');
      greetings.push(greeting);
      if (greeting.startsWith('* BYE')) await client.closedByServer();
      client.close();
    }
    expect(greetings.slice(0, IMAP_IP_LIMIT).every((g) => g.startsWith('* OK'))).toBe(true);
    expect(greetings.slice(IMAP_IP_LIMIT)).toEqual([`* BYE ${IP_MESSAGE}`, `* BYE ${IP_MESSAGE}`]);
    // Another address is not affected.
    expect((await open(0, 'imap', '127.0.0.51')).greeting).toMatch(/^\* OK/);
    expect(await sum('postern_mail_throttle_denials_total', { protocol: 'imap', reason: 'ip' })).toBe(2);
  });

  it('IMAP: a refusal at the greeting is audited (throttled-ip), a flood of them once per window and a count when it closes', async () => {
    const refused = 6;
    const proxy = proxies[1];
    for (let i = 0; i < IMAP_IP_LIMIT + refused; i++) {
      const client = await LineClient.connect({ port: proxy.imap, localAddress: '127.0.0.60' });
      const greeting = await client.line();
      expect(greeting.startsWith('* BYE')).toBe(i >= IMAP_IP_LIMIT);
      client.close();
    }
    await waitFor('the summary of the window', async () => logLines(proxy, 'login refusals left out', '127.0.0.60').length > 0, { timeoutMs: 20_000 });
    const written = logLines(proxy, 'login', '127.0.0.60');
    expect(written[0]).toMatchObject({ protocol: 'imap', outcome: 'throttled-ip', reason: 'ip', lip: '127.0.0.1', tls: 'none' });
    expect(written[0]!.rport).toEqual(expect.any(Number));
    const summaries = logLines(proxy, 'login refusals left out', '127.0.0.60');
    expect(summaries[0]).toMatchObject({ protocol: 'imap', outcome: 'throttled-ip' });
    // Every refusal is accounted for: written, or counted in a summary (one window on any machine
    // that connects six times within the 3 s window: one line and "5 left out").
    expect(written.length + summaries.reduce((n, s) => n + (s.suppressed as number), 0)).toBe(refused);
    expect(written.length).toBeLessThan(refused);
  });

  it('POP3: its own limit and counter, and the IP message as -ERR', async () => {
    const greetings: string[] = [];
    for (let i = 0; i < POP3_IP_LIMIT + 1; i++) {
      const { client, greeting } = await open(i, 'pop3', '127.0.0.52');
      greetings.push(greeting);
      client.close();
    }
    expect(greetings).toEqual([expect.stringMatching(/^\+OK/), expect.stringMatching(/^\+OK/), `-ERR ${IP_MESSAGE}`]);
    // IMAP from the same address still has its own allowance.
    expect((await open(1, 'imap', '127.0.0.52')).greeting).toMatch(/^\* OK/);
  });

  it('the user limit counts successful logins only, under any spelling of the account', async () => {
    // Failing on purpose does not use up alice's allowance.
    for (let i = 0; i < USER_LIMIT + 1; i++) {
      expect((await imapLogin(i, `127.0.1.${i}`, 'alice@example.com', 'wrong')).at(-1)).toMatch(/^l\d+ NO/);
    }
    const password = DEMO_PASSWORDS['alice@example.com']!;
    const spellings = ['alice@example.com', 'ALICE@example.com', 'alice.smith@example.com'];
    for (let i = 0; i < USER_LIMIT; i++) {
      expect((await imapLogin(i, `127.0.2.${i}`, spellings[i]!, password)).at(-1)).toMatch(/^l\d+ OK/);
    }
    // The next login, by an alias and from a fresh address, through either proxy: refused.
    const refused = await imapLogin(USER_LIMIT, '127.0.2.99', 'alice@example.net', password);
    expect(refused).toContain(`* BYE ${USER_MESSAGE}`);
    expect(refused.at(-1)).toMatch(/^l\d+ NO/);
    // Its audit line names the account the alias belongs to.
    const proxy = proxies[USER_LIMIT % 2]!;
    await waitFor('the audit line', () => logLines(proxy, 'login', '127.0.2.99').length > 0);
    expect(logLines(proxy, 'login', '127.0.2.99')).toEqual([
      expect.objectContaining({ user: 'alice@example.net', account: 'alice@example.com', outcome: 'throttled', reason: 'user' }),
    ]);
    expect(await sum('postern_mail_throttle_denials_total', { protocol: 'imap', reason: 'user' })).toBe(1);
  });

  it('POP3 clients see the user message as -ERR', async () => {
    const password = DEMO_PASSWORDS['bob@example.com']!;
    const replies: string[] = [];
    for (let i = 0; i < USER_LIMIT + 1; i++) {
      const { client, greeting } = await open(i, 'pop3', `127.0.3.${i}`);
      expect(greeting).toMatch(/^\+OK/);
      client.send('USER bob@example.com\r\n');
      expect(await client.line()).toMatch(/^\+OK/);
      client.send(`PASS ${password}\r\n`);
      replies.push(await client.line());
      client.close();
    }
    expect(replies.slice(0, USER_LIMIT).every((r) => r.startsWith('+OK'))).toBe(true);
    expect(replies[USER_LIMIT]).toBe(`-ERR ${USER_MESSAGE}`);
  });

  it("both throttle instances answered proxy-a's checks (one queue group); proxy-b decided its own", async () => {
    const counts = await Promise.all(throttles.map((t) => t.metric('postern_throttle_checks_total')));
    expect(counts.every((n) => n > 0)).toBe(true);
    const says = (proxy: MailProxyProcess) => proxy.service.process.output().match(/"checks":"(\w+)","msg":"login throttle"/)?.[1];
    expect([says(proxies[0]), says(proxies[1])]).toEqual(['service', 'local']);
  });
});
