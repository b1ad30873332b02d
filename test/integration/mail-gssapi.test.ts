/**
 * Kerberos logins (SASL GSSAPI, RFC 4752) at the mail proxy, against a real MIT KDC with its own
 * realm, real slapd, NATS and memcached, and real Dovecot with a master user. The client is the
 * `kerberos` package (MIT's GSS-API client): it gets tickets from the KDC, the proxy verifies them
 * with its keytab and logs in upstream as the principal's account with the master login.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as kerberos from 'kerberos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  directoryLdifFor,
  LineClient,
  makeCertificate,
  PATIENT_BUDGETS,
  removeDir,
  scratchDir,
  startKdc,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type KdcServer,
  type MailboxServers,
  type MailProxyProcess,
  type SlapdServer,
} from '../harness';

const run = promisify(execFile);
const REALM = 'POSTERN.TEST';
const HOST = 'postern.test';
const MASTER = { user: 'postern-master', password: 'master-secret-for-tests' };
// Short enough to wait out in a test, long enough to use once: the expired-ticket case.
const SHORT_LIFE_SECONDS = 3;
// The acceptor's clock tolerance in this realm (MIT's default of 5 minutes would keep an expired ticket valid that long).
const CLOCK_SKEW_SECONDS = 1;
// Every refusal must come well inside the login deadline.
const ANSWER_WITHIN_MS = 5_000;

let dir: string;
let ccache: string;
let kdc: KdcServer;
let slapd: SlapdServer;
let proxy: MailProxyProcess;
let bare: MailProxyProcess;
let ca: string;
let upstreams: MailboxServers;

beforeAll(async () => {
  dir = await scratchDir('mail-gssapi');
  kdc = await startKdc({
    realm: REALM,
    clockSkewSeconds: CLOCK_SKEW_SECONDS,
    principals: [
      { name: `imap/${HOST}` },
      { name: `pop/${HOST}` },
      { name: 'alice', password: 'alice-krb' },
      { name: 'carol.k', password: 'carol-krb' },
      { name: 'frank', password: 'frank-krb' },
      { name: 'nobody', password: 'nobody-krb' },
      { name: 'root', password: 'root-krb' },
      { name: 'dana', password: 'dana-krb' },
      { name: 'shorty', password: 'shorty-krb', maxLife: `${SHORT_LIFE_SECONDS} seconds` },
    ],
  });
  const keytab = await kdc.keytab(join(dir, 'proxy.keytab'), [`imap/${HOST}`, `pop/${HOST}`]);
  // One credential cache collection for every client principal of this file.
  mkdirSync(join(dir, 'ccache'));
  ccache = `DIR:${join(dir, 'ccache')}`;
  Object.assign(process.env, kdc.env, { KRB5CCNAME: ccache });
  for (const [name, password] of [
    ['alice', 'alice-krb'],
    ['carol.k', 'carol-krb'],
    ['frank', 'frank-krb'],
    ['nobody', 'nobody-krb'],
    ['root', 'root-krb'],
    ['dana', 'dana-krb'],
  ] as const)
    await kdc.kinit(name, password, cacheOf(name));

  const cert = await makeCertificate({ commonName: HOST, altNames: [HOST, 'localhost', '127.0.0.1'] });
  ca = cert.caPem;
  upstreams = await startMailboxServers({ masterUsers: [MASTER], messages: [{ user: 'carol@example.org', count: 2 }] });
  // Kerberos realm → domain, one account known by its foreign principal (its name is not the
  // principal's), and two administrators of example.com: root (global) and dana (the domain's).
  const fixture =
    directoryLdifFor(upstreams)
      .replace(/(dn: dc=example\.com,ou=domains,dc=postern,dc=test\r?\n)/, `$1zimbraAuthKerberos5Realm: ${REALM}\n`)
      .replace(/(dn: uid=carol,ou=people,dc=example\.org,[^\n]*\n)/, `$1zimbraForeignPrincipal: kerberos5:carol.k@${REALM}\n`) +
    adminEntry('root', 'zimbraIsAdminAccount', '7d0c2a9e-0000-4000-8000-000000000001') +
    adminEntry('dana', 'zimbraIsDomainAdminAccount', '7d0c2a9e-0000-4000-8000-000000000002');
  const [nats, memcached] = await Promise.all([startNats(), startMemcached()]);
  slapd = await startSlapd({ fixture });
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
  const env = {
    ...common,
    ...kdc.env,
    KRB5RCACHENAME: `file2:${join(dir, 'proxy.rcache')}`,
    POSTERN_TLS_CERT_FILE: cert.certFile,
    POSTERN_TLS_KEY_FILE: cert.keyFile,
  };
  const attributes = {
    ...PATIENT_BUDGETS,
    zimbraReverseProxyAuthWaitInterval: '100ms',
    zimbraReverseProxySSLToUpstreamEnabled: false,
    zimbraReverseProxyMailMode: 'http',
    zimbraReverseProxyImapSaslGssapiEnabled: true,
    zimbraReverseProxyPop3SaslGssapiEnabled: true,
    posternKrb5Keytab: keytab,
    posternKrb5ImapServicePrincipal: `imap/${HOST}`,
    posternKrb5Pop3ServicePrincipal: `pop/${HOST}`,
    posternMasterAuthUser: MASTER.user,
  };
  [proxy, bare] = await Promise.all([
    startMailProxy(dir, 'gssapi', { ...env, POSTERN_MASTER_AUTH_PASSWORD: MASTER.password }, attributes),
    // The same, with a master user the mailbox servers do not know.
    startMailProxy(dir, 'gssapi-no-master', { ...env, POSTERN_MASTER_AUTH_PASSWORD: 'not-a-master' }, { ...attributes, posternMasterAuthUser: 'stranger' }),
  ]);
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

/** An administrator of example.com (no mailbox of its own: it only acts for others). */
function adminEntry(uid: string, role: 'zimbraIsAdminAccount' | 'zimbraIsDomainAdminAccount', id: string): string {
  return [
    `\ndn: uid=${uid},ou=people,dc=example.com,ou=domains,dc=postern,dc=test`,
    'objectClass: inetOrgPerson',
    'objectClass: zimbraAccount',
    `uid: ${uid}`,
    `cn: ${uid}`,
    `sn: ${uid}`,
    `zimbraId: ${id}`,
    `zimbraMailDeliveryAddress: ${uid}@example.com`,
    'zimbraAccountStatus: active',
    `${role}: TRUE`,
    '',
  ].join('\n');
}

/** The cache of one principal in the collection (kinit into the collection itself would replace its primary cache). */
function cacheOf(principal: string): string {
  return `DIR::${join(dir, 'ccache', `tkt-${principal}`)}`;
}

/** A GSSAPI client for `principal` toward `service` (`imap@postern.test`), as MIT's library does it. */
function gssClient(service: 'imap' | 'pop', principal: string) {
  return kerberos.initializeClient(`${service}@${HOST}`, {
    principal: `${principal}@${REALM}`,
    gssFlag: kerberos.GSS_C_MUTUAL_FLAG | kerberos.GSS_C_SEQUENCE_FLAG,
  });
}

interface Outcome {
  /** The proxy's final line. */
  final: string;
  /** The client's first token (to replay). */
  firstToken: string;
  ms: number;
}

/**
 * AUTHENTICATE GSSAPI (IMAP, tag `a1`) or AUTH GSSAPI (POP3) over `client`: the client's tokens
 * until the proxy answers with a final line. `firstToken` replaces the client's own first token.
 */
async function gssapiLogin(
  client: LineClient,
  protocol: 'imap' | 'pop',
  principal: string,
  options: { authzid?: string; firstToken?: string; service?: 'imap' | 'pop' } = {},
): Promise<Outcome> {
  const started = Date.now();
  const gss = await gssClient(options.service ?? protocol, principal);
  const firstToken = options.firstToken ?? (await gss.step(''));
  client.send(protocol === 'imap' ? `a1 AUTHENTICATE GSSAPI ${firstToken}\r\n` : `AUTH GSSAPI ${firstToken}\r\n`);
  for (;;) {
    const line = await client.line();
    // A challenge is `+ data` (POP3's `+OK` is an answer).
    if (!/^\+( |$)/.test(line)) return { final: line, firstToken, ms: Date.now() - started };
    const challenge = line.slice(2).trim();
    let response: string;
    if (!gss.contextComplete) response = (await gss.step(challenge)) ?? '';
    else response = await gss.wrap(await gss.unwrap(challenge), { user: options.authzid ?? '' });
    client.send(`${response}\r\n`);
  }
}

async function imapClient(port = proxy.imap, tls = false): Promise<LineClient> {
  const client = await LineClient.connect({ port, tls, ca, servername: HOST });
  expect(await client.line()).toMatch(/^\* OK/);
  return client;
}

async function pop3Client(port = proxy.pop3): Promise<LineClient> {
  const client = await LineClient.connect({ port });
  expect(await client.line()).toMatch(/^\+OK/);
  return client;
}

async function auditLine(pattern: RegExp): Promise<string> {
  let found: string | undefined;
  await waitFor(
    'the audit line',
    () =>
      (found = proxy.service.process
        .output()
        .split('\n')
        .find((line) => pattern.test(line))) !== undefined,
    { timeoutMs: 5_000 },
  );
  return found!;
}

describe('GSSAPI logins', () => {
  it('advertises GSSAPI as Zimbra does: beside PLAIN, and alone before STARTTLS in "only" mode', async () => {
    const client = await imapClient();
    client.send('c1 CAPABILITY\r\n');
    const caps = await client.line();
    expect(caps).toContain('AUTH=GSSAPI');
    expect(caps).toContain('STARTTLS LOGINDISABLED');
    expect(caps).not.toContain('AUTH=PLAIN');
    client.close();
    const pop = await pop3Client();
    pop.send('CAPA\r\n');
    const lines: string[] = [];
    for (let line = await pop.line(); line !== '.'; line = await pop.line()) lines.push(line);
    expect(lines).toContain('SASL GSSAPI');
    pop.close();
  });

  it('IMAP: a ticket logs in as the account of the realm-mapped domain, and the session is the mailbox server’s', async () => {
    const client = await imapClient();
    const { final } = await gssapiLogin(client, 'imap', 'alice');
    expect(final).toMatch(/^a1 OK/);
    client.send('s1 SELECT INBOX\r\n');
    let line = await client.line();
    while (!line.startsWith('s1 ')) line = await client.line();
    expect(line).toMatch(/^s1 OK/);
    client.close();
    const audit = await auditLine(/"mech":"GSSAPI".*"user":"alice@POSTERN.TEST"/);
    expect(audit).toContain('"account":"alice@example.com"');
    expect(audit).toContain('"outcome":"ok"');
    expect(proxy.service.process.output()).not.toContain(MASTER.password);
  });

  it('curl (built with GSS-API; it needs user@REALM to pick GSSAPI) logs in over IMAP and POP3', async () => {
    const env = { ...process.env, KRB5CCNAME: cacheOf('alice') };
    const curl = (url: string) =>
      run(
        'curl',
        ['-sS', '--max-time', '10', '--login-options', 'AUTH=GSSAPI', '-u', `alice@${REALM}:`, '--resolve', `${HOST}:${new URL(url).port}:127.0.0.1`, url],
        {
          env,
        },
      );
    expect((await curl(`imap://${HOST}:${proxy.imap}/`)).stdout).toMatch(/LIST .*INBOX/);
    // A refused login makes curl fail (exit 67); alice's INBOX is empty here, so LIST lists nothing.
    await curl(`pop3://${HOST}:${proxy.pop3}/`);
    await auditLine(/"protocol":"pop3".*"mech":"GSSAPI".*"user":"alice@POSTERN.TEST".*"outcome":"ok"/);
  });

  it('IMAPS, with an authorization identity naming the account itself', async () => {
    const client = await imapClient(proxy.imaps, true);
    const { final } = await gssapiLogin(client, 'imap', 'alice', { authzid: 'alice@example.com' });
    expect(final).toMatch(/^a1 OK/);
    client.close();
  });

  it('POP3: the account found by zimbraForeignPrincipal', async () => {
    const client = await pop3Client();
    const { final } = await gssapiLogin(client, 'pop', 'carol.k');
    expect(final).toMatch(/^\+OK/);
    client.send('STAT\r\n');
    expect(await client.line()).toMatch(/^\+OK \d+ \d+/);
    client.close();
    await auditLine(/"mech":"GSSAPI".*"user":"carol.k@POSTERN.TEST".*"account":"carol@example.org"/);
  });

  it('refuses, each within the deadline: an authorization identity of another account, an unknown principal, a closed account', async () => {
    for (const [principal, authzid] of [
      ['alice', 'bob@example.com'],
      ['nobody', undefined],
      ['frank', undefined],
    ] as const) {
      const client = await imapClient();
      const { final, ms } = await gssapiLogin(client, 'imap', principal, authzid ? { authzid } : {});
      expect(final).toMatch(/^a1 NO/);
      expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
      client.close();
    }
    await auditLine(/"mech":"GSSAPI","user":"alice@POSTERN.TEST","authzid":"bob@example.com".*"outcome":"not_allowed"/);
    await auditLine(/"mech":"GSSAPI","user":"nobody@POSTERN.TEST".*"outcome":"not_found"/);
    await auditLine(/"mech":"GSSAPI","user":"frank@POSTERN.TEST".*"outcome":"not_allowed"/);
  });

  it('an admin principal acts for another domain’s account: routed to it, logged in by the master user, its INBOX read', async () => {
    const client = await imapClient();
    const { final } = await gssapiLogin(client, 'imap', 'root', { authzid: 'carol@example.org' });
    expect(final).toMatch(/^a1 OK/);
    client.send('s1 SELECT INBOX\r\n');
    const selected: string[] = [];
    for (let line = await client.line(); !line.startsWith('s1 '); line = await client.line()) selected.push(line);
    expect(selected).toContain('* 2 EXISTS');
    // Carol's own mail, on her server (mbox2): the size of her first message, as the harness made it.
    client.send('f1 FETCH 1 RFC822.SIZE\r\n');
    expect(await client.line()).toBe(`* 1 FETCH (RFC822.SIZE ${upstreams.mbox2.messages.get('carol@example.org')![0]!.length})`);
    expect(await client.line()).toMatch(/^f1 OK/);
    client.close();
    const audit = await auditLine(/"mech":"GSSAPI","user":"root@POSTERN.TEST","authzid":"carol@example.org"/);
    expect(audit).toContain('"account":"carol@example.org"');
    expect(audit).toContain('"outcome":"ok"');
    // On carol's server, the login is carol's (the master user's SASL PLAIN for her).
    await upstreams.mbox2.waitForLog(/imap-login: Info: Login: user=<carol@example\.org>, method=PLAIN/);
  });

  it('a domain admin acts for its own domain’s account, and is refused another domain’s within the deadline', async () => {
    const own = await imapClient();
    expect((await gssapiLogin(own, 'imap', 'dana', { authzid: 'alice@example.com' })).final).toMatch(/^a1 OK/);
    own.close();
    const other = await imapClient();
    const { final, ms } = await gssapiLogin(other, 'imap', 'dana', { authzid: 'carol@example.org' });
    expect(final).toMatch(/^a1 NO/);
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    other.close();
    await auditLine(/"mech":"GSSAPI","user":"dana@POSTERN.TEST","authzid":"alice@example.com".*"account":"alice@example.com".*"outcome":"ok"/);
    await auditLine(/"mech":"GSSAPI","user":"dana@POSTERN.TEST","authzid":"carol@example.org".*"outcome":"not_allowed"/);
  });

  it('refuses a ticket for another service (POP3’s at the IMAP port)', async () => {
    const client = await imapClient();
    const { final, ms } = await gssapiLogin(client, 'imap', 'alice', { service: 'pop' });
    expect(final).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    client.close();
    await auditLine(/"mech":"GSSAPI".*"outcome":"rejected".*Cannot decrypt ticket for pop\/postern.test/);
  });

  it('refuses a replayed authenticator', async () => {
    const first = await imapClient();
    const { final, firstToken } = await gssapiLogin(first, 'imap', 'alice');
    expect(final).toMatch(/^a1 OK/);
    first.close();
    const second = await imapClient();
    const replay = await gssapiLogin(second, 'imap', 'alice', { firstToken });
    expect(replay.final).toMatch(/^a1 NO/);
    second.close();
    await auditLine(/"outcome":"rejected".*Request is a replay/);
  });

  it('refuses an expired ticket', async () => {
    await kdc.kinit('shorty', 'shorty-krb', cacheOf('shorty'));
    // MIT's client will not send a ticket it knows has expired: the token is made while the ticket
    // is valid and sent once it has expired (past the acceptor's clock tolerance).
    const gss = await gssClient('imap', 'shorty');
    const token = await gss.step('');
    const expires = Date.now() + (SHORT_LIFE_SECONDS + CLOCK_SKEW_SECONDS + 1) * 1000;
    await waitFor('the ticket to expire', () => Date.now() > expires, { timeoutMs: 10_000, intervalMs: 200 });
    const client = await imapClient();
    const { final } = await gssapiLogin(client, 'imap', 'shorty', { firstToken: token });
    expect(final).toMatch(/^a1 NO/);
    client.close();
    await auditLine(/"outcome":"rejected".*Ticket expired/);
  });

  it('a mailbox server that does not know the master login gives a clear NO', async () => {
    const client = await imapClient(bare.imap);
    const { final, ms } = await gssapiLogin(client, 'imap', 'carol.k');
    expect(final).toMatch(/^a1 NO/);
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    client.close();
  });

  it('with the KDC down: a client that holds its ticket still logs in; one that cannot get one gets an answer at once', async () => {
    // A ticket for POP3 in the cache before the KDC goes away.
    await kdc.kvno(`pop/${HOST}@${REALM}`, cacheOf('alice'));
    await kdc.stop();
    const pop = await pop3Client();
    expect((await gssapiLogin(pop, 'pop', 'alice')).final).toMatch(/^\+OK/);
    pop.close();
    // No POP3 ticket for nobody, and no KDC to get one from: the client gives up with `*`.
    const client = await pop3Client();
    const gss = await gssClient('pop', 'nobody');
    await expect(gss.step('')).rejects.toThrow();
    const started = Date.now();
    client.send('AUTH GSSAPI\r\n');
    expect(await client.line()).toMatch(/^\+( |$)/);
    client.send('*\r\n');
    expect(await client.line()).toMatch(/^-ERR/);
    expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
    client.close();
  });
});
