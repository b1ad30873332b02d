/**
 * The mail frontend under unusual input, against real Dovecot mailbox servers: tags the mailbox
 * server would refuse, clients that half-close, clients that never log in, clients that make the
 * same mistake thousands of times, and any login the codec accepts (fast-check).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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
} from '../harness';

let dir: string;
let ca: string;
let upstreams: MailboxServers;
let proxy: MailProxyProcess;
let patient: MailProxyProcess; // a short time limit to log in

/** A mail-proxy with plain upstreams, STARTTLS offered, a short auth-wait and patient NATS budgets, plus `attributes`. */
function startProxy(name: string, env: Record<string, string>, attributes: Record<string, unknown>): Promise<MailProxyProcess> {
  return startMailProxy(dir, name, env, {
    zimbraReverseProxyAuthWaitInterval: '10ms',
    ...PATIENT_BUDGETS,
    zimbraReverseProxySSLToUpstreamEnabled: false,
    zimbraReverseProxyImapStartTlsMode: 'on',
    zimbraReverseProxyPop3StartTlsMode: 'on',
    zimbraReverseProxyMailMode: 'http',
    ...attributes,
  });
}

beforeAll(async () => {
  dir = await scratchDir('mail-unusual');
  const cert = await makeCertificate({ commonName: 'postern.test', altNames: ['postern.test', '127.0.0.1'] });
  ca = cert.caPem;
  upstreams = await startMailboxServers({ messages: [{ user: 'bob@example.com', count: 2 }] });
  const [nats, memcached] = await Promise.all([startNats(), startMemcached()]);
  const slapd = await startSlapd({ fixture: directoryLdifFor(upstreams) });
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  await startService('route-lookup', {
    ...common,
    POSTERN_LDAP_URLS: slapd.url,
    POSTERN_LDAP_BIND_DN: slapd.rootDn,
    POSTERN_LDAP_BIND_PASSWORD: slapd.rootPassword,
    POSTERN_LDAP_BASE_DN: slapd.baseDn,
  });
  const env = { ...common, POSTERN_TLS_CERT_FILE: cert.certFile, POSTERN_TLS_KEY_FILE: cert.keyFile };
  [proxy, patient] = await Promise.all([startProxy('proxy', env, {}), startProxy('patient', env, { posternMailLoginTimeLimit: '2s' })]);
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

async function greeted(port: number, options: { tls?: boolean } = {}): Promise<LineClient> {
  const client = await LineClient.connect({ port, ...(options.tls ? { tls: true, ca, servername: 'postern.test' } : {}) });
  await client.line();
  return client;
}

/** `tag LOGIN user password` with both as LITERAL+ literals: any bytes the codec takes. */
function login(tag: string, user: string, password: string): Buffer {
  const u = Buffer.from(user);
  const p = Buffer.from(password);
  return Buffer.concat([Buffer.from(`${tag} LOGIN {${u.length}+}\r\n`), u, Buffer.from(` {${p.length}+}\r\n`), p, Buffer.from('\r\n')]);
}

describe('IMAP tags', () => {
  it('logs in under a tag Dovecot itself refuses: the proxy sends its own tags upstream', async () => {
    for (const tag of ['a]', 'x'.repeat(64), 'A.1:~!']) {
      const c = await greeted(proxy.imap);
      c.send(`${tag} NOOP\r\n`);
      expect(await c.line()).toBe(`${tag} OK NOOP completed`);
      c.send(login(tag, 'alice@example.com', DEMO_PASSWORDS['alice@example.com']!));
      const reply = (await c.until(`${tag} `)).at(-1)!;
      expect(reply).toMatch(new RegExp(`^${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} OK `));
      c.send('z SELECT INBOX\r\n');
      expect((await c.until('z ')).at(-1)).toMatch(/^z OK /);
      c.close();
    }
  });

  it('answers * BAD for a tag longer than the grammar allows, never UNAVAILABLE', async () => {
    const c = await greeted(proxy.imap);
    c.send(login('t'.repeat(127), 'alice@example.com', DEMO_PASSWORDS['alice@example.com']!));
    expect(await c.line()).toBe('* BAD Invalid command: invalid tag');
    c.send(login('a1', 'alice@example.com', DEMO_PASSWORDS['alice@example.com']!));
    expect((await c.until('a1 ')).at(-1)).toMatch(/^a1 OK /);
    c.close();
  });
});

describe('half-closed clients get every reply owed to them', () => {
  it('IMAP after login: NOOP then FIN, the reply arrives, then both sides close', async () => {
    const c = await greeted(proxy.imap);
    c.send(login('a', 'bob@example.com', DEMO_PASSWORDS['bob@example.com']!));
    expect((await c.until('a ')).at(-1)).toMatch(/^a OK /);
    c.send('b NOOP\r\n');
    c.halfClose();
    expect((await c.until('b ')).at(-1)).toMatch(/^b OK /);
    await c.closedByServer();
  });

  it('IMAP before login: the login is carried out and answered, then the server closes', async () => {
    const c = await greeted(proxy.imap);
    c.send(Buffer.concat([login('a', 'bob@example.com', DEMO_PASSWORDS['bob@example.com']!), Buffer.from('b SELECT INBOX\r\n')]));
    c.halfClose();
    expect((await c.until('a ')).at(-1)).toMatch(/^a OK /);
    // The command pipelined behind the login reached the mailbox server, and its answer the client.
    expect((await c.until('b ')).at(-1)).toMatch(/^b OK /);
    await c.closedByServer();
  });

  it('IMAP before login: pre-auth commands are answered before the close', async () => {
    const c = await greeted(proxy.imap);
    c.send('a NOOP\r\nb CAPABILITY\r\n');
    c.halfClose();
    expect(await c.line()).toBe('a OK NOOP completed');
    expect((await c.until('b ')).at(-1)).toBe('b OK CAPABILITY completed');
    await c.closedByServer();
  });

  it('IMAPS: the same over TLS', async () => {
    const c = await greeted(proxy.imaps, { tls: true });
    c.send(Buffer.concat([login('a', 'bob@example.com', DEMO_PASSWORDS['bob@example.com']!), Buffer.from('b NOOP\r\n')]));
    c.halfClose();
    expect((await c.until('a ')).at(-1)).toMatch(/^a OK /);
    expect((await c.until('b ')).at(-1)).toMatch(/^b OK /);
    await c.closedByServer();
  });

  it('POP3 after login: STAT then FIN, the answer arrives', async () => {
    const c = await greeted(proxy.pop3);
    c.send(`USER bob@example.com\r\nPASS ${DEMO_PASSWORDS['bob@example.com']}\r\n`);
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toMatch(/^\+OK/);
    c.send('STAT\r\n');
    c.halfClose();
    expect(await c.line()).toMatch(/^\+OK 2 \d+$/);
    await c.closedByServer();
  });

  it('POP3 before login: USER, PASS and STAT pipelined with FIN are all answered', async () => {
    const c = await greeted(proxy.pop3);
    c.send(`USER bob@example.com\r\nPASS ${DEMO_PASSWORDS['bob@example.com']}\r\nSTAT\r\n`);
    c.halfClose();
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toMatch(/^\+OK/);
    expect(await c.line()).toMatch(/^\+OK 2 \d+$/);
    await c.closedByServer();
  });
});

describe('limits on clients that never log in', () => {
  it('a client that keeps trickling bytes is closed at the time limit to log in, with a reply and a metric', async () => {
    const c = await greeted(patient.imap);
    // One byte of a never-ending line at a time: the idle timer alone would never fire.
    for (let i = 0; i < 600 && !c.isClosed; i++) {
      c.send('x');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await c.line()).toBe('* BYE Time limit to log in reached');
    await c.closedByServer();
    expect(await patient.service.metric('postern_mail_limit_violations_total', { protocol: 'imap', limit: 'login-time-limit' })).toBe(1);
  });

  it('POP3 gets -ERR at the time limit', async () => {
    const c = await greeted(patient.pop3);
    for (let i = 0; i < 600 && !c.isClosed; i++) {
      c.send('N');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await c.line()).toBe('-ERR Time limit to log in reached');
    expect(await patient.service.metric('postern_mail_limit_violations_total', { protocol: 'pop3', limit: 'login-time-limit' })).toBe(1);
  });
});

describe("a client's mistakes do not fill the logs", () => {
  it('counts every bad command and malformed login, logs a few at info, nothing at warn', async () => {
    const before = proxy.service.process.output().split('\n').length;
    for (let round = 0; round < 3; round++) {
      const c = await greeted(proxy.imap);
      for (let i = 0; i < 9; i++) c.send(`x${i} FETCH 1 BODY[]\r\n`);
      c.send(login('m1', 'not a user', 'pw'));
      c.send(login('m2', 'ctl\u0001user', 'pw'));
      await c.until('m2 ');
      c.close();
    }
    const lines = proxy.service.process
      .output()
      .split('\n')
      .slice(before)
      .filter((l) => l.startsWith('{'));
    const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(records.filter((r) => r.level >= 40)).toEqual([]);
    expect(records.filter((r) => r.msg === 'bad command' || r.msg === 'client crossed a limit').length).toBeLessThanOrEqual(5);
    expect(await proxy.service.metric('postern_mail_client_errors_total', { protocol: 'imap', kind: 'unknown-command' })).toBeGreaterThanOrEqual(27);
  });
});

describe('any login the codec accepts', () => {
  const tagChar = fc.constantFrom(...[...Array(0x7e - 0x20).keys()].map((i) => String.fromCharCode(0x21 + i)).filter((ch) => !'(){%*"\\+'.includes(ch)));
  const tag = fc.array(tagChar, { minLength: 1, maxLength: 64 }).map((chars) => chars.join(''));
  // The fixture's accounts whose mailbox server runs here (frank and grace are locked; erin and
  // henry have external routes to servers of their own, which do not run in this test).
  const accounts = ['alice@example.com', 'bob@example.com', 'carol@example.org'];
  // Names of Object.prototype's members too: a lookup keyed by user name must not find them.
  const user = fc.oneof(
    fc.constantFrom(...accounts),
    fc.constantFrom('constructor', '__proto__', 'toString'),
    fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
  );
  const password = fc.oneof(fc.constant(undefined), fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }));

  it('logs in or gets a defined refusal, never UNAVAILABLE while the mailbox server is up', async () => {
    await fc.assert(
      fc.asyncProperty(tag, user, password, async (t, u, p) => {
        // Own keys only: a generated name such as `constructor` is no account.
        const known = Object.hasOwn(DEMO_PASSWORDS, u) ? DEMO_PASSWORDS[u] : undefined;
        const secret = p ?? known ?? 'x';
        const c = await greeted(proxy.imap);
        try {
          c.send(login(t, u, secret));
          const reply = (await c.until(`${t} `)).at(-1)!;
          expect(reply).not.toContain('UNAVAILABLE');
          // A refusal is NO (wrong credentials, unknown user) or BAD (a password IMAP cannot carry, such as NUL).
          const good = known === secret && accounts.includes(u);
          expect({ reply: reply.startsWith(`${t} OK `) ? 'OK' : reply.startsWith(`${t} NO `) || reply.startsWith(`${t} BAD `) ? 'refused' : reply }).toEqual({
            reply: good ? 'OK' : 'refused',
          });
        } finally {
          c.close();
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 60) },
    );
  }, 600_000);
});
