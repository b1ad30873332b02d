/**
 * OAuth 2.0 bearer-token logins (OAUTHBEARER, RFC 7628, and XOAUTH2) through the mail proxy, over
 * IMAP and POP3, against real Dovecot mailbox servers whose oauth2 passdb validates JWTs locally
 * with the identity provider's key. The test is the identity provider: it mints the tokens with
 * jose (good, expired, for another audience, signed with another key, for another user).
 *
 * Three proxies: `unchecked` forwards every token and lets Dovecot decide; `checked` checks JWTs
 * itself first (posternOAuthJwks, issuer, audience), so a bad token never reaches Dovecot;
 * `lockout` has a failed-login limit of two per user, to show that refused tokens count, and
 * offers XOAUTH2 alone on IMAP and nothing on POP3. A refusal comes in the mechanism's form: the
 * JSON error challenge, the client's acknowledgement, then NO / -ERR. Tokens are secrets: the bus,
 * the cache and the proxies' logs are scanned for them.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearerClientResponse,
  dumpMemcached,
  imapBearerLogin,
  LineClient,
  makeCertificate,
  PATIENT_BUDGETS,
  pop3BearerLogin,
  removeDir,
  scratchDir,
  startIdentityProvider,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  stopAll,
  waitFor,
  type BearerMechanism,
  type IdentityProvider,
  type MailboxServers,
  type MailProxyProcess,
  type TokenOptions,
} from '../harness';

type Mechanism = BearerMechanism;

let dir: string;
let ca: string;
let idp: IdentityProvider;
let upstreams: MailboxServers;
let unchecked: MailProxyProcess;
let checked: MailProxyProcess;
let lockout: MailProxyProcess;
let memcachedAddress: string;
let tap: NatsConnection;
const bus: string[] = [];

const token = (options: TokenOptions) => idp.mint(options);
const clientResponse = bearerClientResponse;
const at = (port: number) => ({ port, ca, servername: 'postern.test' });
const imapLogin = (port: number, mechanism: Mechanism, user: string, jwt: string) => imapBearerLogin(at(port), mechanism, user, jwt);
const pop3Login = (port: number, mechanism: Mechanism, user: string, jwt: string) => pop3BearerLogin(at(port), mechanism, user, jwt);

/** Bearer logins Dovecot has seen (its refusals and its successes). */
function dovecotBearerAttempts(): number {
  const attempt = /oauth2\(|Login: .*method=(OAUTHBEARER|XOAUTH2)/;
  return upstreams.servers.reduce(
    (n, server) =>
      n +
      server
        .readLog()
        .split('\n')
        .filter((l) => attempt.test(l)).length,
    0,
  );
}

type AuditLine = Record<string, unknown>;
function auditLines(proxy: MailProxyProcess): AuditLine[] {
  return proxy.service.process
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AuditLine)
    .filter((l) => l.msg === 'login');
}

/** The audit lines `which` selects, once there are `count` of them (the proxy's output arrives a little after its replies). */
async function audited(proxy: MailProxyProcess, which: (line: AuditLine) => boolean, count: number): Promise<AuditLine[]> {
  let lines: AuditLine[] = [];
  await waitFor(`${count} audit lines of ${proxy.service.name}`, async () => (lines = auditLines(proxy).filter(which)).length >= count);
  return lines;
}

beforeAll(async () => {
  dir = await scratchDir('mail-oauth');
  const cert = await makeCertificate({ commonName: 'postern.test', altNames: ['postern.test', 'localhost', '127.0.0.1'] });
  ca = cert.caPem;
  idp = await startIdentityProvider(dir);
  upstreams = await startMailboxServers({ oauth2: idp.dovecot });
  const [nats, memcached] = await Promise.all([startNats(), startMemcached()]);
  memcachedAddress = memcached.address;
  tap = await connect({ servers: nats.url, name: 'test-tap' });
  tap.subscribe('>', {
    callback: (_error, msg) => {
      bus.push(`${msg.subject} ${Buffer.from(msg.data).toString('latin1')}`);
    },
  });
  await tap.flush();
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  await startService('route-lookup', { ...common, POSTERN_DIRECTORY_LDIF: upstreams.ldifFile });
  const env = { ...common, POSTERN_TLS_CERT_FILE: cert.certFile, POSTERN_TLS_KEY_FILE: cert.keyFile };
  const base = {
    ...PATIENT_BUDGETS,
    zimbraReverseProxyAuthWaitInterval: '100ms',
    zimbraReverseProxySSLToUpstreamEnabled: false,
    zimbraReverseProxyMailMode: 'http',
  };
  const bearerOn = {
    posternImapSaslOAuthBearerEnabled: true,
    posternImapSaslXOAuth2Enabled: true,
    posternPop3SaslOAuthBearerEnabled: true,
    posternPop3SaslXOAuth2Enabled: true,
  };
  const jwtCheck = { posternOAuthJwks: idp.jwksFile, posternOAuthIssuer: idp.issuer, posternOAuthAudience: idp.audience };
  [unchecked, checked, lockout] = await Promise.all([
    startMailProxy(dir, 'unchecked', env, { ...base, ...bearerOn, zimbraReverseProxyImapStartTlsMode: 'off', zimbraReverseProxyPop3StartTlsMode: 'off' }),
    // STARTTLS `only` (the default): no bearer mechanism is offered before TLS.
    startMailProxy(dir, 'checked', env, { ...base, ...bearerOn, ...jwtCheck }),
    startMailProxy(dir, 'lockout', env, { ...base, ...jwtCheck, posternImapSaslXOAuth2Enabled: true, posternFailedLoginUserLimit: 2 }),
  ]);
}, 120_000);

afterAll(async () => {
  await tap?.close();
  await stopAll();
  await upstreams?.stop();
  if (dir) await removeDir(dir);
});

describe('advertised as PLAIN is', () => {
  it('IMAP: AUTH=OAUTHBEARER and AUTH=XOAUTH2 when on, not before TLS when TLS is required', async () => {
    const plain = await LineClient.connect({ port: unchecked.imap });
    expect(await plain.line()).toMatch(/AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2/);
    plain.close();
    const c = await LineClient.connect({ port: checked.imap, ca, servername: 'postern.test' });
    const greeting = await c.line();
    expect(greeting).toMatch(/LOGINDISABLED/);
    expect(greeting).not.toMatch(/AUTH=/);
    c.send('a1 AUTHENTICATE OAUTHBEARER =\r\n');
    expect(await c.line()).toMatch(/^a1 NO \[PRIVACYREQUIRED\]/);
    c.send('a2 STARTTLS\r\n');
    expect(await c.line()).toMatch(/^a2 OK/);
    await c.startTls();
    c.send('a3 CAPABILITY\r\n');
    expect((await c.until('a3 '))[0]).toMatch(/AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2/);
    c.close();
    // Off by default: `lockout` offers XOAUTH2 alone.
    const off = await LineClient.connect({ port: lockout.imaps, tls: true, ca, servername: 'postern.test' });
    const offered = await off.line();
    expect(offered).toMatch(/AUTH=XOAUTH2/);
    expect(offered).not.toMatch(/AUTH=OAUTHBEARER/);
    off.send(`a1 AUTHENTICATE OAUTHBEARER ${clientResponse('OAUTHBEARER', 'alice@example.com', await token({ user: 'alice@example.com' }))}\r\n`);
    expect(await off.line()).toMatch(/^a1 NO \[CANNOT\]/);
    off.close();
  });

  it('POP3: SASL OAUTHBEARER XOAUTH2 in CAPA and the AUTH list when on, not before STLS when TLS is required', async () => {
    const plain = await LineClient.connect({ port: unchecked.pop3 });
    await plain.line();
    plain.send('CAPA\r\n');
    expect(await plain.until('.')).toContain('SASL PLAIN OAUTHBEARER XOAUTH2');
    plain.send('AUTH\r\n');
    expect(await plain.until('.')).toEqual(['+OK', 'PLAIN', 'OAUTHBEARER', 'XOAUTH2', '.']);
    plain.close();
    const c = await LineClient.connect({ port: checked.pop3, ca, servername: 'postern.test' });
    await c.line();
    c.send('CAPA\r\n');
    expect((await c.until('.')).some((l) => l.startsWith('SASL'))).toBe(false);
    c.send('AUTH XOAUTH2\r\n');
    expect(await c.line()).toMatch(/^-ERR \[AUTH\]/);
    c.send('STLS\r\n');
    expect(await c.line()).toMatch(/^\+OK/);
    await c.startTls();
    c.send('CAPA\r\n');
    expect(await c.until('.')).toContain('SASL PLAIN OAUTHBEARER XOAUTH2');
    c.close();
    const off = await LineClient.connect({ port: lockout.pop3s, tls: true, ca, servername: 'postern.test' });
    await off.line();
    off.send('AUTH XOAUTH2\r\n');
    expect(await off.line()).toMatch(/^-ERR Unsupported/);
    off.close();
  });
});

/** Bad tokens for alice, and the reason the proxy's own check gives. */
const BAD_TOKENS: readonly [string, () => Promise<string>, string][] = [
  ['an expired token', () => token({ user: 'alice@example.com', expiresIn: -60 }), 'token-expired'],
  ['a token signed with another key', () => token({ user: 'alice@example.com', forged: true }), 'token-signature'],
  ["bob's token for alice", () => token({ user: 'bob@example.com' }), 'token-user-mismatch'],
  ['a token for another audience', () => token({ user: 'alice@example.com', audience: 'calendar' }), 'token-claims'],
];
/** Dovecot 2.3.19's local validation checks its `scope` against the token's scope claim, not the audience. */
const DOVECOT_REFUSES = BAD_TOKENS.slice(0, 3);

describe.each([
  ['IMAP', (proxy: MailProxyProcess) => proxy.imaps, imapLogin],
  ['POP3', (proxy: MailProxyProcess) => proxy.pop3s, pop3Login],
] as const)('%s', (protocol, port, login) => {
  const ok = protocol === 'IMAP' ? /^a1 OK/ : /^\+OK/;
  const refused = protocol === 'IMAP' ? /^a1 NO \[AUTHENTICATIONFAILED\]/ : /^-ERR \[AUTH\]/;

  it.each(['OAUTHBEARER', 'XOAUTH2'] as const)('%s: a good token logs in on the mailbox server, which checked it', async (mechanism) => {
    const before = dovecotBearerAttempts();
    for (const proxy of [unchecked, checked]) {
      expect((await login(port(proxy), mechanism, 'bob@example.com', await token({ user: 'bob@example.com' }))).final).toMatch(ok);
    }
    await waitFor('both logins in the log of bob’s server', async () => dovecotBearerAttempts() === before + 2);
    await upstreams.mbox2.waitForLog(`method=${mechanism}`);
  });

  it.each(['OAUTHBEARER', 'XOAUTH2'] as const)("%s: the mailbox server refuses bad tokens, in the mechanism's form", async (mechanism) => {
    const before = dovecotBearerAttempts();
    for (const [name, make] of DOVECOT_REFUSES) {
      const outcome = await login(port(unchecked), mechanism, 'alice@example.com', await make());
      expect(outcome.final, name).toMatch(refused);
      // Dovecot's own challenge, relayed: RFC 7628's status for OAUTHBEARER, an HTTP status for XOAUTH2.
      expect(outcome.challenge?.status, name).toBe(mechanism === 'OAUTHBEARER' ? 'invalid_token' : '401');
    }
    // …but not a token for another audience: only the proxy's own check refuses that one.
    const [name, make] = BAD_TOKENS[3]!;
    expect((await login(port(unchecked), mechanism, 'alice@example.com', await make())).final, name).toMatch(ok);
    await waitFor('every attempt in the log of alice’s server', async () => dovecotBearerAttempts() === before + BAD_TOKENS.length);
  });

  it.each(['OAUTHBEARER', 'XOAUTH2'] as const)('%s: with its own check, the proxy refuses them before any mailbox server sees them', async (mechanism) => {
    const before = dovecotBearerAttempts();
    for (const [name, make] of BAD_TOKENS) {
      const outcome = await login(port(checked), mechanism, 'alice@example.com', await make());
      expect(outcome.final, name).toMatch(refused);
      expect(outcome.challenge, name).toEqual(
        mechanism === 'OAUTHBEARER' ? { status: 'invalid_token', schemes: 'bearer' } : { status: '401', schemes: 'bearer' },
      );
    }
    // A good login after them is the only one Dovecot saw.
    expect((await login(port(checked), mechanism, 'alice@example.com', await token({ user: 'alice@example.com' }))).final).toMatch(ok);
    await waitFor('the good login in the log of alice’s server', async () => dovecotBearerAttempts() > before);
    expect(dovecotBearerAttempts()).toBe(before + 1);
    const audit = await audited(checked, (l) => l.mech === mechanism && l.user === 'alice@example.com' && l.protocol === protocol.toLowerCase(), 5);
    expect(audit.slice(-5).map((l) => [l.outcome, l.reason])).toEqual([...BAD_TOKENS.map(([, , reason]) => ['rejected', reason]), ['ok', undefined]]);
  });
});

describe('the throttle', () => {
  it('counts tokens the proxy refused as failed logins: past the limit even a good token is refused', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await imapLogin(lockout.imaps, 'XOAUTH2', 'carol@example.org', await token({ user: 'carol@example.org', forged: true }))).final).toMatch(
        /^a1 NO/,
      );
    }
    expect((await imapLogin(lockout.imaps, 'XOAUTH2', 'carol@example.org', await token({ user: 'carol@example.org' }))).final).toMatch(/^a1 NO/);
    expect((await audited(lockout, (l) => l.user === 'carol@example.org', 3)).map((l) => l.outcome)).toEqual(['rejected', 'rejected', 'throttled']);
  });

  it('counts tokens the mailbox server refused as failed logins', async () => {
    // Good for the proxy's check, not for Dovecot's (which requires its scope).
    for (let i = 0; i < 2; i++) {
      expect((await imapLogin(lockout.imaps, 'XOAUTH2', 'bob@example.com', await token({ user: 'bob@example.com', scope: null }))).final).toMatch(/^a1 NO/);
    }
    await upstreams.mbox2.waitForLog(/oauth2\(bob@example\.com.*scope/);
    expect((await imapLogin(lockout.imaps, 'XOAUTH2', 'bob@example.com', await token({ user: 'bob@example.com' }))).final).toMatch(/^a1 NO/);
    expect((await audited(lockout, (l) => l.user === 'bob@example.com', 3)).map((l) => l.outcome)).toEqual(['rejected', 'rejected', 'throttled']);
  });
});

describe('a real client', () => {
  it('imapflow logs in with an access token, as Thunderbird does: OAUTHBEARER when offered, else XOAUTH2', async () => {
    for (const [proxy, mechanism] of [
      [checked, 'OAUTHBEARER'],
      [lockout, 'XOAUTH2'],
    ] as const) {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: proxy.imaps,
        secure: true,
        auth: { user: 'alice@example.com', accessToken: await token({ user: 'alice@example.com' }) },
        tls: { ca, servername: 'postern.test' },
        logger: false,
      });
      await client.connect();
      expect(await client.status('INBOX', { messages: true })).toMatchObject({ messages: 0 });
      await client.logout();
      expect((await audited(proxy, (l) => l.user === 'alice@example.com' && l.mech === mechanism && l.outcome === 'ok', 1)).at(-1)).toMatchObject({
        mech: mechanism,
        outcome: 'ok',
        account: 'alice@example.com',
      });
    }
  });
});

describe('tokens are secrets', () => {
  it('no token reaches the bus, the cache or a log', async () => {
    expect(idp.minted.length).toBeGreaterThan(20);
    const found = (where: string, text: string) => idp.minted.filter((t) => text.includes(t) || text.includes(t.split('.')[2]!)).map(() => where);
    const hits = [...bus.flatMap((m) => found('NATS', m))];
    const cached = await dumpMemcached(memcachedAddress);
    expect(cached.length).toBeGreaterThan(0);
    for (const { key, value } of cached) hits.push(...found(`memcached ${key}`, `${key} ${value.toString('latin1')}`));
    for (const proxy of [unchecked, checked, lockout]) hits.push(...found(`${proxy.service.name}'s log`, proxy.service.process.output()));
    expect(hits).toEqual([]);
    // The scan reads what it should: the same places carry the logins' names.
    expect(bus.some((m) => m.includes('alice@example.com'))).toBe(true);
    expect(auditLines(checked).length).toBeGreaterThan(10);
  });
});
