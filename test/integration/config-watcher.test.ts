/**
 * The config-watcher against a real slapd with the accesslog overlay, NATS with JetStream,
 * memcached, Dovecot mailbox servers and Postern's own services: a write to the directory becomes
 * one event on POSTERN_CONFIG and a value in the postern-config bucket, running services apply it
 * (a greeting, a throttle limit), a mailbox move or a closed account drops the account's routes
 * and ends its sessions, an invalid change is refused and recorded, adds/renames/deletes are seen,
 * two watchers store each change once, a killed watcher resumes from its cursor, and a service
 * started late comes up on the current config.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigBucket, type ConfigEvent } from '@postern/contracts';
import {
  canConnect,
  DEMO_ACCOUNTS,
  freePort,
  directoryEnv,
  ldapModify,
  ldapModifyEntry,
  LineClient,
  openConfigView,
  PATIENT_BUDGETS,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type ConfigView,
  type MailboxServers,
  type MailProxyProcess,
  type ServiceProcess,
  type SlapdServer,
} from '../harness';

const GLOBAL_DN = 'cn=config,cn=zimbra,dc=postern,dc=test';
const MBOX2_DN = 'cn=mbox2,cn=servers,cn=zimbra,dc=postern,dc=test';
const ACCOUNT_DN = (uid: string, domain = 'example.com') => `uid=${uid},ou=people,dc=${domain},ou=domains,dc=postern,dc=test`;
const DOMAINS_DN = 'ou=domains,dc=postern,dc=test';

let dir: string;
let upstreams: MailboxServers;
let slapd: SlapdServer;
let common: Record<string, string>;
let watcherEnv: Record<string, string>;
let watcher: ServiceProcess;
let throttle: ServiceProcess;
let proxy: MailProxyProcess;
/** A proxy that asks the login-throttle service (the other decides its checks itself, the default). */
let asking: MailProxyProcess;
let view: ConfigView;

/** The mail-proxy's file settings: plain IMAP for raw transcripts; sessions of moved accounts ended. */
const PROXY_ATTRIBUTES = {
  ...PATIENT_BUDGETS,
  zimbraReverseProxySSLToUpstreamEnabled: false,
  zimbraReverseProxyImapStartTlsMode: 'off',
  zimbraReverseProxyPop3StartTlsMode: 'off',
  zimbraReverseProxyAuthWaitInterval: '100ms',
  posternSessionEndOnMove: true,
};

const modify = (dn: string, ...lines: string[]) => ldapModifyEntry(slapd, dn, ...lines);

async function greeting(port: number): Promise<string> {
  const client = await LineClient.connect({ port });
  try {
    return await client.line();
  } finally {
    client.send('z LOGOUT\r\n');
  }
}

/** Logs in over IMAP and selects INBOX; returns the client and the INBOX's EXISTS count. */
async function loginAndSelect(user: string): Promise<{ client: LineClient; exists: number }> {
  const client = await LineClient.connect({ port: proxy.imap });
  await client.line();
  client.send(`a1 LOGIN ${user} ${user.split('@')[0]}-secret\r\n`);
  const login = await client.until('a1 ');
  if (!login.at(-1)!.startsWith('a1 OK')) throw new Error(`login of ${user} failed: ${login.join(' | ')}`);
  client.send('a2 SELECT INBOX\r\n');
  const selected = await client.until('a2 ');
  const exists = Number(/^\* (\d+) EXISTS/.exec(selected.find((l) => / EXISTS$/.test(l)) ?? '')?.[1] ?? NaN);
  return { client, exists };
}

/** The tagged result of one IMAP login on a fresh connection. */
async function loginResult(user: string, through: MailProxyProcess = proxy): Promise<string> {
  const client = await LineClient.connect({ port: through.imap });
  try {
    await client.line();
    client.send(`a1 LOGIN ${user} ${user.split('@')[0]}-secret\r\n`);
    return (await client.until('a1 ')).at(-1)!;
  } finally {
    client.send('a9 LOGOUT\r\n');
  }
}

/** Waits until `service` runs on config sequence `sequence` or later. */
async function applied(service: ServiceProcess, sequence: number): Promise<void> {
  await waitFor(`${service.name} on config sequence ${sequence}`, async () => (await service.metric('postern_config_sequence')) >= sequence);
}

const changedHas = (name: string) => (event: ConfigEvent) => event.changed.includes(name);

beforeAll(async () => {
  dir = await scratchDir('config-watcher');
  // alice also has a mailbox on mbox2 (empty): after the move, which server answered shows in EXISTS.
  const alice = DEMO_ACCOUNTS.find((a) => a.user === 'alice@example.com')!;
  upstreams = await startMailboxServers({ users: [...DEMO_ACCOUNTS, { ...alice, server: 'mbox2' }], messages: [{ user: 'alice@example.com', count: 1 }] });
  const [nats, memcached, ldap] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: upstreams.ldif })]);
  slapd = ldap;
  common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  watcherEnv = { ...common, ...directoryEnv(slapd), POSTERN_WATCH_INTERVAL_MS: '100' };
  [watcher, , throttle] = await Promise.all([
    startService('config-watcher', watcherEnv),
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('login-throttle', common),
  ]);
  view = await openConfigView(nats.url);
  [proxy, asking] = await Promise.all([
    startMailProxy(dir, 'mail-proxy', common, PROXY_ATTRIBUTES),
    startMailProxy(dir, 'asking', common, { ...PROXY_ATTRIBUTES, posternThrottleChecks: 'service' }),
  ]);
});

afterAll(async () => {
  await view?.close();
  await stopAll();
  await upstreams?.stop();
  if (dir) await removeDir(dir);
});

describe('config-watcher', () => {
  it('publishes the directory it finds at its first start: an event and a bucket entry per global config, server and domain', async () => {
    await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
    const { entries, malformed } = await view.store.entries();
    expect(malformed).toEqual([]);
    expect([...entries.keys()].sort()).toEqual(
      expect.arrayContaining(['global', 'server.127.0.0.2', 'server.127.0.0.3', 'domain.example.com', 'domain.example.org', 'domain.partner.test']),
    );
    const events = await view.events();
    for (const [key, entry] of entries) {
      const event = events.find((e) => e.sequence === entry.sequence);
      expect(event?.event.source, key).toBe('reconcile');
      expect(event?.event.after).toEqual(entry.attributes);
    }
    // No secret travels: a domain's private key is published as its digest only.
    const withKey = [...entries.values()].find((e) => e.attributes.zimbraSSLPrivateKey !== undefined);
    if (withKey) expect(withKey.attributes.zimbraSSLPrivateKey!.every((v) => v.startsWith('sha256:'))).toBe(true);
    expect(await view.store.cursor()).toBeDefined();
  });

  it('applies an ldapmodify of the global config in the running mail-proxy: the IMAP greeting changes', async () => {
    expect(await greeting(proxy.imap)).toMatch(/ IMAP4rev1 proxy server ready$/);
    const last = await view.store.lastSequence();
    await modify(GLOBAL_DN, 'replace: zimbraReverseProxyImapExposeVersionOnBanner', 'zimbraReverseProxyImapExposeVersionOnBanner: TRUE');
    const stored = await view.waitForEvent('the banner event', changedHas('zimbraReverseProxyImapExposeVersionOnBanner'), last);
    expect(stored.event).toMatchObject({ kind: 'change', scope: 'global', op: 'modify', source: 'accesslog' });
    expect(stored.event.before?.zimbraReverseProxyImapExposeVersionOnBanner).toBeUndefined();
    expect(stored.event.after?.zimbraReverseProxyImapExposeVersionOnBanner).toEqual(['TRUE']);
    expect(stored.event.csn).toMatch(/^\d{14}\.\d{6}Z#/);
    await applied(proxy.service, stored.sequence);
    expect(await greeting(proxy.imap)).toMatch(/ Postern \S+ IMAP4 ready$/);
  });

  it('applies a throttle limit set in the directory, in a proxy and in the service alike: the third login of the user in the window is refused', async () => {
    const last = await view.store.lastSequence();
    await modify(GLOBAL_DN, 'replace: zimbraReverseProxyUserLoginLimit', 'zimbraReverseProxyUserLoginLimit: 2');
    const stored = await view.waitForEvent('the limit event', changedHas('zimbraReverseProxyUserLoginLimit'), last);
    await Promise.all([applied(proxy.service, stored.sequence), applied(asking.service, stored.sequence), applied(throttle, stored.sequence)]);
    expect(await loginResult('carol@example.org')).toMatch(/^a1 OK/);
    expect(await loginResult('carol@example.org', asking)).toMatch(/^a1 OK/);
    // One limit: each way of checking counts the other's logins.
    expect(await loginResult('carol@example.org', asking)).toMatch(/^a1 NO/);
    expect(await loginResult('carol@example.org')).toMatch(/^a1 NO/);
    await modify(GLOBAL_DN, 'delete: zimbraReverseProxyUserLoginLimit');
    const lifted = await view.waitForEvent('the limit lifted', changedHas('zimbraReverseProxyUserLoginLimit'), stored.sequence);
    await Promise.all([applied(proxy.service, lifted.sequence), applied(asking.service, lifted.sequence), applied(throttle, lifted.sequence)]);
    expect(await loginResult('carol@example.org')).toMatch(/^a1 OK/);
    expect(await loginResult('carol@example.org', asking)).toMatch(/^a1 OK/);
  });

  it('re-routes the next login after a mailbox move and ends the open session (posternSessionEndOnMove)', async () => {
    const before = await loginAndSelect('alice@example.com');
    expect(before.exists).toBe(1); // mbox1 holds alice's message; the route is now cached
    const last = await view.store.lastSequence();
    const movedAt = performance.now();
    await modify(ACCOUNT_DN('alice'), 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    // The open session is told to go (after the cached routes were deleted: see route-invalidator.ts).
    const bye = await before.client.until('* BYE');
    expect(bye.at(-1)).toBe('* BYE Mailbox moved; please reconnect');
    await before.client.closedByServer();
    const after = await loginAndSelect('alice@example.com');
    const rerouteMs = performance.now() - movedAt;
    expect(after.exists).toBe(0); // mbox2 answered
    after.client.send('a3 LOGOUT\r\n');
    const stored = await view.waitForEvent('the move event', (e) => e.scope === 'account' && e.changed.includes('zimbraMailHost'), last);
    expect(stored.event).toMatchObject({
      entry: 'alice@example.com',
      op: 'modify',
      before: { zimbraMailHost: ['127.0.0.2'] },
      after: { zimbraMailHost: ['127.0.0.3'] },
    });
    expect(await watcher.metric('postern_config_route_invalidations_total', { reason: 'moved' })).toBeGreaterThanOrEqual(1);
    expect(await proxy.service.metric('postern_mail_sessions_ended_total', { reason: 'moved' })).toBe(1);
    // Reported, not asserted (a loaded machine must not fail the suite): the bound is 2 s.
    console.log(`mailbox move: LDAP modify to the next login on the new server in ${rerouteMs.toFixed(0)} ms`);
  });

  it("ends a closed account's sessions by default, and its next login is refused", async () => {
    const open = await loginAndSelect('bob@example.com');
    await modify(ACCOUNT_DN('bob'), 'replace: zimbraAccountStatus', 'zimbraAccountStatus: closed');
    expect((await open.client.until('* BYE')).at(-1)).toBe('* BYE Account is not active');
    await open.client.closedByServer();
    expect(await loginResult('bob@example.com')).toMatch(/^a1 NO/);
    await modify(ACCOUNT_DN('bob'), 'replace: zimbraAccountStatus', 'zimbraAccountStatus: active');
    await waitFor('bob active again', async () => /^a1 OK/.test(await loginResult('bob@example.com')));
  });

  it('refuses a mail-mode combination outside the seed table, records it, and keeps the previous value', async () => {
    const last = await view.store.lastSequence();
    await modify(MBOX2_DN, 'replace: zimbraMailMode', 'zimbraMailMode: https');
    const stored = await view.waitForEvent('the rejected event', (e) => e.kind === 'rejected', last);
    expect(stored.event).toMatchObject({ scope: 'server', entry: '127.0.0.3', changed: ['zimbraMailMode'] });
    expect(stored.event.reason).toContain('zimbraReverseProxySSLToUpstreamEnabled=TRUE, zimbraReverseProxyMailMode=both, zimbraMailMode=https');
    const entry = await view.store.entry('server.127.0.0.3');
    expect(entry !== 'malformed' && entry?.attributes.zimbraMailMode).toEqual(['both']);
    expect(await watcher.metric('postern_config_events_total', { kind: 'rejected' })).toBeGreaterThanOrEqual(1);
    await modify(MBOX2_DN, 'replace: zimbraMailMode', 'zimbraMailMode: both');
  });

  it('sees an entry added, renamed and deleted (a domain and an account)', async () => {
    const last = await view.store.lastSequence();
    await ldapModify(
      slapd,
      [
        `dn: dc=added.test,${DOMAINS_DN}`,
        'changetype: add',
        'objectClass: domain',
        'objectClass: zimbraDomain',
        'dc: added.test',
        'zimbraId: 0d9c3b6a-1111-4e2f-9a0b-000000000041',
        'zimbraDomainName: added.test',
        'zimbraVirtualHostname: mail.added.test',
        '',
        `dn: ou=people,dc=added.test,${DOMAINS_DN}`,
        'changetype: add',
        'objectClass: organizationalUnit',
        'ou: people',
        '',
        `dn: ${ACCOUNT_DN('ivan', 'added.test')}`,
        'changetype: add',
        'objectClass: inetOrgPerson',
        'objectClass: zimbraAccount',
        'uid: ivan',
        'cn: Ivan',
        'sn: Ivan',
        'zimbraId: 0d9c3b6a-1111-4e2f-9a0b-000000000042',
        'zimbraMailDeliveryAddress: ivan@added.test',
        'zimbraMailHost: 127.0.0.2',
        'userPassword: not-for-the-bus',
        '',
      ].join('\n'),
    );
    const added = await view.waitForEvent('the domain added', (e) => e.scope === 'domain' && e.entry === 'added.test' && e.op === 'add', last);
    const account = await view.waitForEvent('the account added', (e) => e.scope === 'account' && e.entry === 'ivan@added.test', last);
    expect(account.event.after).not.toHaveProperty('userPassword');
    expect(await view.store.entry('domain.added.test')).toMatchObject({ attributes: { zimbraVirtualHostname: ['mail.added.test'] } });

    await ldapModify(slapd, [`dn: ${ACCOUNT_DN('ivan', 'added.test')}`, 'changetype: modrdn', 'newrdn: uid=ivan2', 'deleteoldrdn: 1', ''].join('\n'));
    const renamed = await view.waitForEvent('the account renamed', (e) => e.scope === 'account' && e.op === 'rename', account.sequence);
    expect(renamed.event.dn).toBe(ACCOUNT_DN('ivan2', 'added.test'));

    await ldapModify(
      slapd,
      [
        `dn: ${ACCOUNT_DN('ivan2', 'added.test')}`,
        'changetype: delete',
        '',
        `dn: ou=people,dc=added.test,${DOMAINS_DN}`,
        'changetype: delete',
        '',
        `dn: dc=added.test,${DOMAINS_DN}`,
        'changetype: delete',
        '',
      ].join('\n'),
    );
    const gone = await view.waitForEvent('the account deleted', (e) => e.scope === 'account' && e.op === 'delete', renamed.sequence);
    expect(gone.event.before?.zimbraMailDeliveryAddress).toEqual(['ivan@added.test']);
    expect(gone.event.after).toBeNull();
    const domainGone = await view.waitForEvent('the domain deleted', (e) => e.scope === 'domain' && e.op === 'delete', added.sequence);
    expect(domainGone.event.entry).toBe('added.test');
    await waitFor('the domain out of the bucket', async () => (await view.store.entry('domain.added.test')) === undefined);
  });

  it('stores each change once with two watchers running', async () => {
    const second = await startService('config-watcher', watcherEnv);
    // The second one is watching once it has read the log at least once (its heartbeat).
    await waitFor('the second watcher up', async () => (await second.metric('postern_config_directory_up')) === 1);
    const last = await view.store.lastSequence();
    const read = () => Promise.all([watcher.metric('postern_config_changes_total'), second.metric('postern_config_changes_total')]);
    const [firstBefore, secondBefore] = await read();
    await modify(GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 9s');
    const stored = await view.waitForEvent('the event', changedHas('zimbraReverseProxyAuthWaitInterval'), last);
    // Both handled it: one published it, the other found it in effect already or published it again;
    // either way the stream kept one (message id = the CSN).
    await waitFor('both watchers to have handled it', async () => {
      const [firstNow, secondNow] = await read();
      return firstNow > firstBefore && secondNow > secondBefore;
    });
    const copies = (await view.events(last + 1)).filter((e) => e.event.csn === stored.event.csn);
    expect(copies).toHaveLength(1);
    await second.stop();
  });

  it('resumes from its cursor after being killed: changes made while it was down are published, in order', async () => {
    watcher.process.child.kill('SIGKILL');
    await waitFor('the watcher gone', () => watcher.process.exited);
    const last = await view.store.lastSequence();
    for (const value of ['1s', '2s', '3s'])
      await modify(GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', `zimbraReverseProxyAuthWaitInterval: ${value}`);
    watcher = await startService('config-watcher', watcherEnv);
    await view.waitForEvent('the last change', (e) => e.after?.zimbraReverseProxyAuthWaitInterval?.[0] === '3s', last);
    const seen = (await view.events(last + 1))
      .filter((e) => e.event.changed.includes('zimbraReverseProxyAuthWaitInterval'))
      .map((e) => e.event.after?.zimbraReverseProxyAuthWaitInterval?.[0]);
    // Each change is read from the log; the entry itself is read when its change is handled, so a
    // change handled after a later one was made shows the later value: none is lost, the last wins.
    expect(seen.at(-1)).toBe('3s');
    expect(new Set(seen).size).toBe(seen.length);
    // The bucket is written right after the event is stored.
    await waitFor('the bucket to hold the last value', async () => {
      const entry = await view.store.entry(ConfigBucket.globalKey);
      return entry !== 'malformed' && entry?.attributes.zimbraReverseProxyAuthWaitInterval?.[0] === '3s';
    });
  });

  it('re-opens only the listener whose port changed; sessions on the others go on', async () => {
    const open = await loginAndSelect('carol@example.org');
    const file = join(dir, 'mail-proxy.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { attributes: Record<string, unknown> };
    const [oldPort, newPort] = [proxy.pop3, await freePort()];
    writeFileSync(file, JSON.stringify({ attributes: { ...config.attributes, zimbraPop3ProxyBindPort: newPort } }));
    proxy.service.process.child.kill('SIGHUP');
    await waitFor('POP3 on its new port', () => canConnect('127.0.0.1', newPort));
    const pop3 = await LineClient.connect({ port: newPort });
    expect(await pop3.line()).toMatch(/^\+OK/);
    pop3.send('QUIT\r\n');
    await waitFor('the old POP3 port closed', async () => !(await canConnect('127.0.0.1', oldPort)));
    // The IMAP listener was not touched, nor the session on it.
    open.client.send('a3 NOOP\r\n');
    expect((await open.client.until('a3 ')).at(-1)).toMatch(/^a3 OK/);
    open.client.send('a4 LOGOUT\r\n');
    expect(await greeting(proxy.imap)).toMatch(/IMAP4/);
  });

  it('starts a late service on the current config, and refuses a malformed bucket value', async () => {
    const late = await startMailProxy(dir, 'late', common, PROXY_ATTRIBUTES);
    // Its first greeting already has the banner the directory set earlier: it read the bucket before serving.
    expect(await greeting(late.imap)).toMatch(/ Postern \S+ IMAP4 ready$/);
    // Both nodes say they run on the same config (the watcher's heartbeat names the newest).
    await waitFor('the late node on the same sequence', async () => {
      const [a, b] = await Promise.all([late.service.metric('postern_config_sequence'), proxy.service.metric('postern_config_sequence')]);
      return a > 0 && a === b;
    });
    const good = await view.store.kv.get(ConfigBucket.globalKey);
    await view.store.kv.put(ConfigBucket.globalKey, 'not a config entry');
    await waitFor('the malformed value refused', async () => (await late.service.metric('postern_config_refused_total', { reason: 'malformed' })) >= 1);
    expect(await greeting(late.imap)).toMatch(/ Postern \S+ IMAP4 ready$/);
    await view.store.kv.put(ConfigBucket.globalKey, good!.value);
    await late.service.stop();
  });
});
