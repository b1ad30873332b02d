/**
 * The mail frontend end to end: real Dovecot mailbox servers (two, users on each), slapd with the
 * fixture directory, route-lookup, memcached and NATS, and mail-proxy processes configured three
 * ways. Clients: imapflow (a real IMAP client library) and raw transcripts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  DEMO_PASSWORDS,
  directoryLdifFor,
  LineClient,
  PATIENT_BUDGETS,
  makeCertificate,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMemcached,
  startNats,
  startMailProxy,
  startService,
  startSlapd,
  stopAll,
  type MailboxServers,
  type MailProxyProcess,
  type ServiceProcess,
  type SlapdServer,
  waitFor,
} from '../harness';

let dir: string;
let ca: string;
let upstreams: MailboxServers;
let plain: MailProxyProcess; // plain to upstream, STARTTLS "on"
let secure: MailProxyProcess; // TLS to upstream, STARTTLS "only" (the default)
let lookup: ServiceProcess;
let slapd: SlapdServer;
let tlsEnv: Record<string, string>;

const BIG_MESSAGE_BYTES = 10 * 1024 * 1024;

/** A mail-proxy with this file's common settings (a short auth-wait, patient NATS budgets) and `attributes`. */
function startProxy(name: string, env: Record<string, string>, attributes: Record<string, unknown>): Promise<MailProxyProcess> {
  return startMailProxy(dir, name, env, { zimbraReverseProxyAuthWaitInterval: '200ms', ...PATIENT_BUDGETS, ...attributes });
}

beforeAll(async () => {
  dir = await scratchDir('mail-proxy');
  const cert = await makeCertificate({ commonName: 'postern.test', altNames: ['postern.test', 'localhost', '127.0.0.1', '127.0.0.2', '127.0.0.3'] });
  ca = cert.caPem;
  upstreams = await startMailboxServers({
    tls: true,
    messages: [
      { user: 'alice@example.com', count: 1, sizeBytes: BIG_MESSAGE_BYTES },
      { user: 'bob@example.com', count: 2 },
    ],
  });
  const [nats, memcached] = await Promise.all([startNats(), startMemcached()]);
  slapd = await startSlapd({ fixture: directoryLdifFor(upstreams) });
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  lookup = await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
  const caFile = join(dir, 'upstream-ca.pem');
  writeFileSync(caFile, upstreams.caPem!);
  tlsEnv = { ...common, POSTERN_TLS_CERT_FILE: cert.certFile, POSTERN_TLS_KEY_FILE: cert.keyFile, POSTERN_UPSTREAM_CA_FILE: caFile };
  [plain, secure] = await Promise.all([
    // A user limit no test reaches: the proxy asks the throttle service (over NATS, not the
    // default), which is not running.
    startProxy('plain', tlsEnv, {
      posternThrottleChecks: 'service',
      zimbraReverseProxySSLToUpstreamEnabled: false,
      zimbraReverseProxyImapStartTlsMode: 'on',
      zimbraReverseProxyPop3StartTlsMode: 'on',
      zimbraReverseProxyMailMode: 'http',
      zimbraReverseProxyUserLoginLimit: 1_000_000,
    }),
    startProxy('secure', tlsEnv, { zimbraReverseProxyImapExposeVersionOnBanner: true, zimbraReverseProxyPop3ExposeVersionOnBanner: true }),
  ]);
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

function imapflow(port: number, user: string, password: string, options: { secure?: boolean; starttls?: boolean } = {}) {
  return new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: options.secure ?? false,
    doSTARTTLS: options.starttls,
    auth: { user, pass: password },
    tls: { ca, servername: 'postern.test' },
    logger: false,
    clientInfo: { name: 'postern-tests', version: '1.0' },
  });
}

async function messages(client: ImapFlow): Promise<number | undefined> {
  const status = await client.status('INBOX', { messages: true });
  return status ? status.messages : undefined;
}

describe('IMAP through the proxy', () => {
  it('logs users in on their own mailbox server (plain upstream)', async () => {
    for (const user of ['alice@example.com', 'bob@example.com']) {
      const client = imapflow(plain.imap, user, DEMO_PASSWORDS[user]!, { starttls: false });
      await client.connect();
      expect(await messages(client)).toBe(user.startsWith('alice') ? 1 : 2);
      await client.logout();
    }
  });

  it('logs in over IMAPS with TLS to the upstream, by alias and unqualified name', async () => {
    for (const login of ['alice.smith@example.com', 'alice@example.net', 'alice']) {
      const client = imapflow(secure.imaps, login, DEMO_PASSWORDS['alice@example.com']!, { secure: true });
      await client.connect();
      expect(await messages(client)).toBe(1);
      await client.logout();
    }
    expect(await lookup.metric('postern_route_lookups_total', { protocol: 'imapssl' })).toBeGreaterThan(0);
  });

  it('STARTTLS "only": LOGINDISABLED before TLS, login after it', async () => {
    const c = await LineClient.connect({ port: secure.imap, ca, servername: 'postern.test' });
    expect(await c.line()).toMatch(/^\* OK/);
    c.send('a1 CAPABILITY\r\n');
    const caps = (await c.until('a1 ')).join('\n');
    expect(caps).toContain('STARTTLS');
    expect(caps).toContain('LOGINDISABLED');
    expect(caps).not.toContain('AUTH=PLAIN');
    c.send('a2 LOGIN alice@example.com alice-secret\r\n');
    expect(await c.line()).toMatch(/^a2 NO/);
    c.send('a3 STARTTLS\r\n');
    expect(await c.line()).toMatch(/^a3 OK/);
    await c.startTls();
    c.send('a4 CAPABILITY\r\n');
    const after = (await c.until('a4 ')).join('\n');
    expect(after).toContain('AUTH=PLAIN');
    expect(after).not.toContain('LOGINDISABLED');
    c.send('a5 LOGIN alice@example.com alice-secret\r\n');
    expect((await c.until('a5 ')).at(-1)).toMatch(/^a5 OK/);
    c.send('a6 LOGOUT\r\n');
    await c.until('a6 ');
    c.close();
  });

  it("verifies the mailbox server's certificate unless told not to", async () => {
    // Without the mailbox servers' CA the system CAs do not trust them: a temporary failure, not a pass.
    const { POSTERN_UPSTREAM_CA_FILE: _ca, ...untrusting } = tlsEnv;
    const [strict, lax] = await Promise.all([
      startProxy('upstream-strict', untrusting, { zimbraReverseProxyImapStartTlsMode: 'off' }),
      startProxy('upstream-lax', { ...untrusting, POSTERN_UPSTREAM_TLS_VERIFY: 'false' }, { zimbraReverseProxyImapStartTlsMode: 'off' }),
    ]);
    for (const [proxy, expected] of [
      [strict, /^v1 NO \[UNAVAILABLE\]/],
      [lax, /^v1 OK/],
    ] as const) {
      const c = await LineClient.connect({ port: proxy.imap });
      await c.line();
      c.send('v1 LOGIN bob@example.com bob-secret\r\n');
      expect((await c.until('v1 ')).at(-1)).toMatch(expected);
      c.close();
    }
    await Promise.all([strict.service.stop(), lax.service.stop()]);
  });

  it('STARTTLS "off": neither announced nor accepted, and AUTH=PLAIN offered in the clear', async () => {
    const proxy = await startProxy('starttls-off', tlsEnv, {
      zimbraReverseProxySSLToUpstreamEnabled: false,
      zimbraReverseProxyImapStartTlsMode: 'off',
      zimbraReverseProxyPop3StartTlsMode: 'off',
      zimbraReverseProxyMailMode: 'http',
    });
    const c = await LineClient.connect({ port: proxy.imap });
    const greeting = await c.line();
    expect(greeting).not.toMatch(/STARTTLS|LOGINDISABLED/);
    expect(greeting).toMatch(/AUTH=PLAIN/);
    c.send('o1 STARTTLS\r\n');
    expect(await c.line()).toMatch(/^o1 BAD/);
    c.send('o2 LOGIN bob@example.com bob-secret\r\n');
    expect((await c.until('o2 ')).at(-1)).toMatch(/^o2 OK/);
    c.close();
    const p = await LineClient.connect({ port: proxy.pop3 });
    await p.line();
    p.send('CAPA\r\n');
    expect((await p.until('.')).join('\n')).not.toContain('STLS');
    p.close();
    await proxy.service.stop();
  });

  it('discards plaintext pipelined after STARTTLS (no command injection)', async () => {
    const c = await LineClient.connect({ port: secure.imap, ca, servername: 'postern.test' });
    await c.line();
    c.send('a1 STARTTLS\r\na2 LOGIN alice@example.com alice-secret\r\n');
    expect(await c.line()).toMatch(/^a1 OK/);
    await c.startTls();
    c.send('a3 NOOP\r\n');
    expect(await c.line()).toMatch(/^a3 OK/);
    c.close();
  });

  it('AUTHENTICATE PLAIN with SASL-IR, with a continuation, and aborted', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    const ir = Buffer.from('\0bob@example.com\0bob-secret').toString('base64');
    c.send('x1 AUTHENTICATE PLAIN\r\n');
    expect(await c.line()).toMatch(/^\+/);
    c.send('*\r\n');
    expect(await c.line()).toMatch(/^x1 BAD/);
    c.send(`x2 AUTHENTICATE PLAIN ${ir}\r\n`);
    expect((await c.until('x2 ')).at(-1)).toMatch(/^x2 OK/);
    c.send('x3 SELECT INBOX\r\n');
    expect((await c.until('x3 ')).join('\n')).toMatch(/2 EXISTS/);
    c.close();
  });

  it('answers a wrong password after the auth-wait, with the upstream error, and an unknown user likewise', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    const started = Date.now();
    c.send('t1 LOGIN alice@example.com wrong\r\n');
    expect((await c.until('t1 ')).at(-1)).toMatch(/^t1 NO/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    c.send('t2 LOGIN nobody@example.com whatever\r\n');
    expect((await c.until('t2 ')).at(-1)).toMatch(/^t2 NO/);
    c.close();
    expect(await plain.service.metric('postern_mail_logins_total', { protocol: 'imap', outcome: 'rejected' })).toBeGreaterThanOrEqual(1);
    expect(await plain.service.metric('postern_mail_logins_total', { protocol: 'imap', outcome: 'not_found' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a closed account', async () => {
    const client = imapflow(plain.imap, 'frank@example.com', DEMO_PASSWORDS['frank@example.com']!, { starttls: false });
    await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
  });

  it('passes the client address to Dovecot in ID (X-ORIGINATING-IP, X-VIA)', async () => {
    const c = await LineClient.connect({ port: plain.imap, localAddress: '127.0.0.77' });
    await c.line();
    c.send('i1 ID ("name" "RawClient" "version" "7.1")\r\n');
    await c.until('i1 ');
    c.send('i2 LOGIN bob@example.com bob-secret\r\n');
    expect((await c.until('i2 ')).at(-1)).toMatch(/^i2 OK/);
    c.close();
    // Dovecot's log is written by another process: wait for the login line, then read it all.
    const login = /imap-login: Info: Login: user=<bob@example\.com>.*rip=127\.0\.0\.77/;
    await waitFor('the login in the mailbox server log', async () => login.test(upstreams.mbox2.readLog()));
    const log = upstreams.mbox2.readLog();
    expect(log).toMatch(/x-originating-ip=127\.0\.0\.77/i);
    expect(log).toMatch(/imap-login: Info: Login: user=<bob@example\.com>.*rip=127\.0\.0\.77/);
    expect(log).toMatch(/x-via=.*RawClient\/7\.1/i);
  });

  it('names its version in greetings and the ID reply only when configured to', async () => {
    const version = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'apps', 'mail-proxy', 'package.json'), 'utf8')) as { version: string }).version;
    const quiet = await LineClient.connect({ port: plain.imap });
    expect(await quiet.line()).toMatch(/^\* OK \[CAPABILITY [^\]]+\] IMAP4rev1 proxy server ready$/);
    quiet.send('v1 ID NIL\r\n');
    expect(await quiet.until('v1 ')).toEqual(['* ID ("name" "Postern")', 'v1 OK ID completed']);
    quiet.close();
    const loud = await LineClient.connect({ port: secure.imaps, tls: true, ca, servername: 'postern.test' });
    expect(await loud.line()).toMatch(new RegExp(`^\\* OK \\[CAPABILITY [^\\]]+\\] Postern ${version.replaceAll('.', '\\.')} IMAP4 ready$`));
    loud.send('v2 ID NIL\r\n');
    expect((await loud.until('v2 '))[0]).toBe(`* ID ("name" "Postern" "version" "${version}")`);
    loud.close();
    const pop3 = await LineClient.connect({ port: secure.pop3s, tls: true, ca, servername: 'postern.test' });
    expect(await pop3.line()).toBe(`+OK Postern ${version} POP3 ready`);
    pop3.close();
  });

  it('answers every pre-auth command, pipelined, with the right tags; BAD for the rest', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    c.send('p1 NOOP\r\np2 CAPABILITY\r\np3 SELECT INBOX\r\np4 NOOP\r\n');
    const lines = await c.until('p4 ');
    const tagged = lines.filter((l) => /^p\d /.test(l)).map((l) => l.split(' ').slice(0, 2).join(' '));
    expect(tagged).toEqual(['p1 OK', 'p2 OK', 'p3 BAD', 'p4 OK']);
    c.send('p5 LOGOUT\r\n');
    expect((await c.until('p5 ')).join('\n')).toMatch(/\* BYE/);
    await c.closedByServer();
  });

  it('relays a 10 MB message byte for byte', async () => {
    const viaProxy = imapflow(secure.imaps, 'alice@example.com', DEMO_PASSWORDS['alice@example.com']!, { secure: true });
    await viaProxy.connect();
    await viaProxy.mailboxOpen('INBOX');
    const message = await viaProxy.fetchOne('1', { source: true });
    await viaProxy.logout();
    const direct = readFileSync(upstreams.messagePath('alice@example.com', 1));
    expect(message && message.source && message.source.length).toBe(direct.length);
    expect(message && message.source && message.source.equals(direct)).toBe(true);
  });

  it('gives a temporary failure when the upstream is down, within the connect timeout', async () => {
    await upstreams.mbox2.stop();
    try {
      const c = await LineClient.connect({ port: plain.imap });
      await c.line();
      c.send('d1 LOGIN bob@example.com bob-secret\r\n');
      expect((await c.until('d1 ')).at(-1)).toMatch(/^d1 NO \[UNAVAILABLE\]/);
      c.close();
    } finally {
      await upstreams.mbox2.restart();
    }
  });

  it('relays what the client pipelined after LOGIN to the upstream, in order', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    c.send('x0 NOOP\r\nx1 LOGIN bob@example.com bob-secret\r\nx2 SELECT INBOX\r\nx3 LOGOUT\r\n');
    expect(await c.line()).toBe('x0 OK NOOP completed');
    expect((await c.until('x1 ')).at(-1)).toMatch(/^x1 OK/);
    const selected = await c.until('x2 ');
    expect(selected).toContain('* 2 EXISTS');
    expect(selected.at(-1)).toMatch(/^x2 OK/);
    expect((await c.until('x3 ')).at(-1)).toMatch(/^x3 OK/);
    await c.closedByServer();
  });

  it('with the directory down, cached routes still log in; an uncached user gets a temporary failure', async () => {
    const warm = imapflow(plain.imap, 'carol@example.org', DEMO_PASSWORDS['carol@example.org']!, { starttls: false });
    await warm.connect();
    await warm.logout();
    await slapd.stop();
    try {
      const cached = imapflow(plain.imap, 'carol@example.org', DEMO_PASSWORDS['carol@example.org']!, { starttls: false });
      await cached.connect();
      expect(await messages(cached)).toBe(0);
      await cached.logout();
      const c = await LineClient.connect({ port: plain.imap });
      await c.line();
      c.send('u1 LOGIN henry@partner.test henry-secret\r\n');
      expect((await c.until('u1 ')).at(-1)).toMatch(/^u1 NO \[UNAVAILABLE\]/);
      c.close();
    } finally {
      await slapd.restart();
    }
  });

  it('closes a connection whose command line is too long, with a BYE and a metric', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    c.send(`l1 LOGIN ${'x'.repeat(16 * 1024)}\r\n`);
    expect(await c.line()).toBe('* BYE Line too long');
    await c.closedByServer();
    expect(await plain.service.metric('postern_mail_limit_violations_total', { protocol: 'imap', limit: 'line-too-long' })).toBe(1);
  });

  it('without a throttle service the logins go on (fail open), counted as fallbacks; with every limit off it is not asked', async () => {
    expect(await plain.service.metric('postern_mail_throttle_fallbacks_total', { kind: 'pre-login', verdict: 'allow' })).toBeGreaterThan(0);
    expect(await secure.service.metric('postern_mail_logins_total', { outcome: 'ok' })).toBeGreaterThan(0);
    expect(await secure.service.metric('postern_mail_throttle_fallbacks_total')).toBe(0);
  });

  it('shuts down gracefully: BYE before login, spliced sessions finish', async () => {
    const proxy = await startProxy('draining', tlsEnv, {
      zimbraReverseProxySSLToUpstreamEnabled: false,
      zimbraReverseProxyImapStartTlsMode: 'off',
      zimbraReverseProxyMailMode: 'http',
    });
    const idle = await LineClient.connect({ port: proxy.imap });
    await idle.line();
    const busy = await LineClient.connect({ port: proxy.imap });
    await busy.line();
    busy.send('s1 LOGIN bob@example.com bob-secret\r\n');
    expect((await busy.until('s1 ')).at(-1)).toMatch(/^s1 OK/);
    const stopped = proxy.service.stop();
    expect(await idle.line()).toBe('* BYE Server shutting down');
    await idle.closedByServer();
    // The logged-in session still works while the proxy drains, and its LOGOUT ends the drain.
    busy.send('s2 SELECT INBOX\r\ns3 LOGOUT\r\n');
    expect((await busy.until('s2 ')).at(-1)).toMatch(/^s2 OK/);
    expect((await busy.until('s3 ')).at(-1)).toMatch(/^s3 OK/);
    await stopped;
    expect(proxy.service.process.exited).toBe(true);
  });

  it('answers an HTTP request on the mail port and closes', async () => {
    const c = await LineClient.connect({ port: plain.imap });
    await c.line();
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.line()).toMatch(/^\* BYE/);
    await c.closedByServer();
  });

  it('writes one audit line per login, whatever its outcome, and one per session end; never a password', async () => {
    const c = await LineClient.connect({ port: secure.imaps, tls: true, ca, servername: 'postern.test' });
    await c.line();
    c.send('a1 LOGIN carol@example.org wrong-password-9f3\r\n');
    expect((await c.until('a1 ')).at(-1)).toMatch(/^a1 NO/);
    c.send('a2 LOGIN carol@example.org carol-secret\r\n');
    expect((await c.until('a2 ')).at(-1)).toMatch(/^a2 OK/);
    c.send('a3 LOGOUT\r\n');
    await c.closedByServer();
    type Line = Record<string, unknown>;
    let lines: Line[] = [];
    await waitFor('the session end logged', () => {
      lines = secure.service.process
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line);
      return lines.some((l) => l.msg === 'session ended' && l.user === 'carol@example.org');
    });
    const logins = lines.filter((l) => l.msg === 'login' && l.user === 'carol@example.org');
    const common = {
      rip: '127.0.0.1',
      lip: '127.0.0.1',
      tls: 'TLSv1.3',
      mech: 'LOGIN',
      account: 'carol@example.org',
      upstream: expect.stringMatching(/^127\.0\.0\.3:\d+$/) as unknown,
    };
    expect(logins).toEqual([expect.objectContaining({ ...common, outcome: 'rejected' }), expect.objectContaining({ ...common, outcome: 'ok' })]);
    expect(typeof logins[0]!.rport).toBe('number');
    expect(typeof logins[1]!.ms).toBe('number');
    const ended = lines.find((l) => l.msg === 'session ended' && l.user === 'carol@example.org');
    expect(ended).toMatchObject({ rip: '127.0.0.1', account: 'carol@example.org' });
    expect(['client-closed', 'upstream-closed']).toContain(ended!.end);
    expect(ended!.bytesFromUpstream).toBeGreaterThan(0);
    expect(secure.service.process.output()).not.toMatch(/carol-secret|wrong-password-9f3/);
  });
});

describe('POP3 through the proxy', () => {
  it('USER/PASS on the plain port and POP3S, routed to the right server', async () => {
    const c = await LineClient.connect({ port: plain.pop3 });
    expect(await c.line()).toMatch(/^\+OK/);
    c.send('USER bob@example.com\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    c.send('PASS bob-secret\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    c.send('STAT\r\n');
    expect(await c.line()).toMatch(/^\+OK 2 /);
    c.send('QUIT\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    c.close();

    const s = await LineClient.connect({ port: secure.pop3s, tls: true, ca, servername: 'postern.test' });
    expect(await s.line()).toMatch(/^\+OK/);
    s.send(`AUTH PLAIN ${Buffer.from('\0alice@example.com\0alice-secret').toString('base64')}\r\n`);
    expect(await s.line()).toMatch(/^\+OK/);
    s.send('STAT\r\n');
    expect(await s.line()).toMatch(/^\+OK 1 /);
    s.close();
  });

  it('passes the client address to Dovecot with XCLIENT', async () => {
    const c = await LineClient.connect({ port: plain.pop3, localAddress: '127.0.0.78' });
    expect(await c.line()).toMatch(/^\+OK/);
    // Pipelined: STAT after PASS goes to the mailbox server once the login is through.
    c.send('USER bob@example.com\r\nPASS bob-secret\r\nSTAT\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    expect(await c.line()).toMatch(/^\+OK/);
    expect(await c.line()).toMatch(/^\+OK 2 /);
    c.send('QUIT\r\n');
    await c.closedByServer();
    const login = /pop3-login: Info: Login: user=<bob@example\.com>.*rip=127\.0\.0\.78/;
    await waitFor('the login in the mailbox server log', async () => login.test(upstreams.mbox2.readLog()));
  });

  it('STLS "only" hides USER and refuses cleartext login; wrong password is -ERR', async () => {
    const c = await LineClient.connect({ port: secure.pop3, ca, servername: 'postern.test' });
    await c.line();
    c.send('CAPA\r\n');
    const caps = (await c.until('.')).join('\n');
    expect(caps).toContain('STLS');
    expect(caps).not.toMatch(/^USER$/m);
    c.send('USER alice@example.com\r\n');
    expect(await c.line()).toMatch(/^-ERR/);
    c.send('STLS\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    await c.startTls();
    c.send('USER alice@example.com\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    c.send('PASS nope\r\n');
    expect(await c.line()).toMatch(/^-ERR/);
    c.close();
  });
});
