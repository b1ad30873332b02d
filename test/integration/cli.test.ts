/**
 * The `postern` command line against a running stack (NATS with JetStream, memcached, slapd with
 * accesslog, Dovecot, config-watcher, route-lookup, mail-proxy): every command, its `--json`
 * parsed, its exit code checked; a replay reproduces an earlier config and `--apply` rolls the
 * running services back to it; and a stack that is down is named with exit 69.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigEvent } from '@postern/contracts';
import {
  directoryEnv,
  freePort,
  ldapModifyEntry,
  LineClient,
  openConfigView,
  PATIENT_BUDGETS,
  removeDir,
  runCli,
  scratchDir,
  spawnCli,
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

let dir: string;
let upstreams: MailboxServers;
let slapd: SlapdServer;
let env: Record<string, string>;
let watcher: ServiceProcess;
let proxy: MailProxyProcess;
let view: ConfigView;

const cli = (...args: string[]) => runCli(args, env);
async function json<T>(...args: string[]): Promise<T> {
  const result = await cli(...args, '--json');
  if (result.code !== 0) throw new Error(`postern ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

const modify = (dn: string, ...lines: string[]) => ldapModifyEntry(slapd, dn, ...lines);

async function imapLogin(user: string): Promise<LineClient> {
  const client = await LineClient.connect({ port: proxy.imap });
  await client.line();
  client.send(`a1 LOGIN ${user} ${user.split('@')[0]}-secret\r\n`);
  const reply = await client.until('a1 ');
  if (!reply.at(-1)!.startsWith('a1 OK')) throw new Error(`login failed: ${reply.join(' | ')}`);
  return client;
}

beforeAll(async () => {
  dir = await scratchDir('cli');
  upstreams = await startMailboxServers();
  const [nats, memcached, ldap] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: upstreams.ldif })]);
  slapd = ldap;
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  env = { ...common, ...directoryEnv(slapd) };
  [watcher] = await Promise.all([
    startService('config-watcher', { ...env, POSTERN_WATCH_INTERVAL_MS: '100' }),
    startService('route-lookup', env),
    startService('login-throttle', common),
  ]);
  view = await openConfigView(nats.url);
  await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
  proxy = await startMailProxy(dir, 'mail-proxy', common, {
    ...PATIENT_BUDGETS,
    zimbraReverseProxySSLToUpstreamEnabled: false,
    zimbraReverseProxyImapStartTlsMode: 'off',
    zimbraReverseProxyPop3StartTlsMode: 'off',
  });
});

afterAll(async () => {
  await view?.close();
  await stopAll();
  await upstreams?.stop();
  if (dir) await removeDir(dir);
});

describe('postern', () => {
  it('prints help for every command and refuses an unknown one with exit 64', async () => {
    for (const args of [
      [],
      ['config'],
      ['config', 'show'],
      ['config', 'check'],
      ['events', 'list'],
      ['events', 'show'],
      ['events', 'replay'],
      ['route'],
      ['cache', 'purge'],
      ['sessions', 'list'],
      ['sessions', 'kick'],
      ['rest-url'],
    ]) {
      const result = await cli(...args, '--help');
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/^Usage: postern/);
    }
    const unknown = await cli('evnts', 'list');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain("unknown command 'evnts'");
  });

  it("config show: each setting with its source, the node's config file and environment, durations as written", async () => {
    type Shown = {
      sequence: number;
      settings: { attribute: string; value: unknown; text: string; source: string }[];
      node: { name: string; value: string; source: string }[];
    };
    const shown = await json<Shown>('config', 'show');
    const find = (name: string, from = shown) => from.settings.find((s) => s.attribute === name);
    expect(find('zimbraReverseProxyAuthWaitInterval')).toMatchObject({ source: 'global', value: 10_000, text: '10s' });
    expect(find('zimbraReverseProxyCacheEntryTTL')).toMatchObject({ source: 'default', value: 3_600_000, text: '1h' });
    expect(find('zimbraReverseProxyMailMode')).toMatchObject({ source: 'default', value: 'both' });
    expect(shown.sequence).toBeGreaterThan(0);
    const onServer = await json<Shown>('config', 'show', '--server', '127.0.0.2');
    expect(find('zimbraImapBindPort', onServer)?.source).toBe('server');
    expect((await cli('config', 'show', '--server', 'nowhere')).code).toBe(1);

    // The node's own config file and environment, as the services on it read them.
    const file = join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ bindHost: '127.0.0.9', attributes: { zimbraReverseProxyConnectTimeout: '3s', zimbraImapBindPort: 7144 } }));
    const nodeEnv = { ...env, POSTERN_CONFIG_FILE: file, POSTERN_SERVER_NAME: '127.0.0.2' };
    const onNode = await runCli(['config', 'show', '--json'], nodeEnv);
    expect(onNode.code, onNode.stderr).toBe(0);
    const node = JSON.parse(onNode.stdout) as Shown & { server: string };
    expect(node.server).toBe('127.0.0.2');
    expect(find('zimbraReverseProxyConnectTimeout', node)).toMatchObject({ source: 'file', value: 3_000, text: '3s' });
    expect(find('zimbraImapBindPort', node)).toMatchObject({ source: 'file', value: 7144 });
    expect(find('zimbraImapSSLBindPort', node)?.source).toBe('server');
    const origin = (name: string) => node.node.find((n) => n.name === name);
    expect(origin('bindHost')).toEqual({ name: 'bindHost', value: '127.0.0.9', source: `file ${file}` });
    expect(origin('natsUrls')?.source).toBe('environment POSTERN_NATS_URLS');
    expect(origin('serverName')).toMatchObject({ value: '127.0.0.2', source: 'environment POSTERN_SERVER_NAME' });
    expect(origin('ldapBindPassword')).toMatchObject({ value: '(set)', source: 'environment POSTERN_LDAP_BIND_PASSWORD' });
    const human = await runCli(['config', 'show'], nodeEnv);
    expect(human.stdout).toMatch(/zimbraReverseProxyConnectTimeout\s+file\s+3s/);
    expect(human.stdout).not.toContain(slapd.rootPassword);
  });

  it('config check reads the directory: a value the watcher refused is named with its event, exit 1', async () => {
    const checked = await json<{ ok: boolean; results: { entry: string; problems: unknown[] }[] }>('config', 'check');
    expect(checked.ok).toBe(true);
    expect(checked.results.map((r) => r.entry)).toEqual(expect.arrayContaining(['global', 'server 127.0.0.2', 'server 127.0.0.3', 'domain example.com']));
    const last = await view.store.lastSequence();
    await modify(MBOX2_DN, 'replace: zimbraMailMode', 'zimbraMailMode: http');
    const rejected = await view.waitForEvent('the refusal', (e) => e.kind === 'rejected' && e.entry === '127.0.0.3', last);
    const message = 'zimbraReverseProxySSLToUpstreamEnabled=TRUE, zimbraReverseProxyMailMode=both, zimbraMailMode=http is not a supported combination';
    const bad = await cli('config', 'check');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/server 127\.0\.0\.3\s+refused: .*zimbraMailMode=http is not a supported combination/);
    expect(bad.stdout).toContain(`(event ${rejected.sequence})`);
    const asJson = await cli('config', 'check', '--json');
    expect(asJson.code).toBe(1);
    const parsed = JSON.parse(asJson.stdout) as { ok: boolean; results: { entry: string; problems: { problem: string; refusedBy: number | null }[] }[] };
    expect(parsed.ok).toBe(false);
    const problems = parsed.results.find((r) => r.entry === 'server 127.0.0.3')?.problems ?? [];
    expect(problems).toHaveLength(1);
    expect(problems[0]!.problem).toContain(message);
    expect(problems[0]!.refusedBy).toBe(rejected.sequence);
    await modify(MBOX2_DN, 'replace: zimbraMailMode', 'zimbraMailMode: both');
    expect((await cli('config', 'check')).code).toBe(0);
  });

  it('events list, show and --follow', async () => {
    const all = await json<{ sequence: number; event: ConfigEvent }[]>('events', 'list');
    expect(all.length).toBeGreaterThan(3);
    expect(all.map((e) => e.sequence)).toEqual([...all.map((e) => e.sequence)].sort((a, b) => a - b));
    const fromSeq = await json<{ sequence: number }[]>('events', 'list', '--seq', String(all[2]!.sequence));
    expect(fromSeq[0]!.sequence).toBe(all[2]!.sequence);
    expect(await json<unknown[]>('events', 'list', '--since', '1d')).toHaveLength(all.length);
    const one = await json<{ sequence: number; event: ConfigEvent }>('events', 'show', String(all[0]!.sequence));
    expect(one.event).toEqual(all[0]!.event);
    expect((await cli('events', 'show', '999999')).code).toBe(1);
    expect((await cli('events', 'show', 'x')).code).toBe(64);
    const human = await cli('events', 'list');
    expect(human.stdout.split('\n')[0]).toMatch(/^SEQ\s+TIME\s+KIND\s+SCOPE\s+ENTRY\s+OP\s+CHANGED/);

    const follower = spawnCli(['events', 'list', '--follow', '--json', '--seq', String((await view.store.lastSequence()) + 1)], env);
    let output = '';
    follower.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('exit', resolve));
    // Changes go on until the follower has printed one (it may still be subscribing when the first comes).
    let n = 0;
    await waitFor(
      'the follower to print an event',
      async () => {
        if (output.includes('zimbraReverseProxyIPLoginLimit')) return true;
        await modify(GLOBAL_DN, 'replace: zimbraReverseProxyIPLoginLimit', `zimbraReverseProxyIPLoginLimit: ${1000 + n++}`);
        return false;
      },
      { intervalMs: 500 },
    );
    follower.kill('SIGINT');
    expect(await exited).toBe(0);
    const first = JSON.parse(output.split('\n')[0]!) as { event: ConfigEvent };
    expect(first.event.changed).toContain('zimbraReverseProxyIPLoginLimit');
  });

  it('events replay shows an earlier config against now, and --apply rolls every service back to it', async () => {
    const before = await view.store.lastSequence();
    await modify(GLOBAL_DN, 'replace: zimbraReverseProxyImapExposeVersionOnBanner', 'zimbraReverseProxyImapExposeVersionOnBanner: TRUE');
    const changed = await view.waitForEvent('the banner change', (e) => e.changed.includes('zimbraReverseProxyImapExposeVersionOnBanner'), before);
    await waitFor('mail-proxy on it', async () => (await proxy.service.metric('postern_config_sequence')) >= changed.sequence);

    const replay = await json<{
      to: number;
      differences: { key: string; changed: string[]; then: Record<string, string[]> | null; now: Record<string, string[]> | null }[];
    }>('events', 'replay', '--to', String(before));
    expect(replay.to).toBe(before);
    expect(replay.differences).toHaveLength(1);
    expect(replay.differences[0]).toMatchObject({ key: 'global', changed: ['zimbraReverseProxyImapExposeVersionOnBanner'] });
    expect(replay.differences[0]!.now?.zimbraReverseProxyImapExposeVersionOnBanner).toEqual(['TRUE']);

    const applied = await json<{ applied: { key: string; sequence: number }[] }>('events', 'replay', '--to', String(before), '--apply', '--yes');
    expect(applied.applied).toHaveLength(1);
    const rollback = await view.store.event(applied.applied[0]!.sequence);
    expect(rollback && 'event' in rollback && rollback.event).toMatchObject({ kind: 'rollback', source: 'rollback', scope: 'global' });
    const global = await view.store.entry('global');
    expect(global !== 'malformed' && global?.attributes.zimbraReverseProxyImapExposeVersionOnBanner).toBeUndefined();
    await waitFor('mail-proxy rolled back', async () => (await proxy.service.metric('postern_config_sequence')) >= applied.applied[0]!.sequence);
    const client = await LineClient.connect({ port: proxy.imap });
    expect(await client.line()).toMatch(/ IMAP4rev1 proxy server ready$/);
    client.send('z LOGOUT\r\n');
    // Now equal: nothing left to roll back.
    expect((await json<{ differences: unknown[] }>('events', 'replay', '--to', String(before))).differences).toEqual([]);
  });

  it('route names the route and its source; cache purge empties the cache for an account and for a domain', async () => {
    const first = await json<{ outcome: string; source: string; route: { host: string; accountName: string } }>('route', 'alice.smith@example.com');
    expect(first).toMatchObject({ outcome: 'ROUTE', route: { host: '127.0.0.2', accountName: 'alice@example.com' } });
    expect(first.source).toMatch(/via route-lookup/);
    const second = await json<{ source: string }>('route', 'alice.smith@example.com');
    expect(second.source).toBe('shared cache');

    const purged = await json<{ accounts: string[]; entriesDeleted: number }>('cache', 'purge', 'alice@example.com');
    expect(purged.accounts).toEqual(['alice@example.com']);
    expect(purged.entriesDeleted).toBeGreaterThanOrEqual(2); // the route by name and by id, the alias
    expect((await json<{ source: string }>('route', 'alice.smith@example.com')).source).toMatch(/via route-lookup/);

    await json('route', 'bob@example.com');
    const domain = await json<{ accounts: string[] }>('cache', 'purge', '--domain', 'example.com');
    expect(domain.accounts).toEqual(expect.arrayContaining(['alice@example.com', 'bob@example.com']));
    expect((await json<{ source: string }>('route', 'bob@example.com')).source).toMatch(/via route-lookup/);

    expect((await cli('route', 'nobody@example.com')).code).toBe(1);
    expect((await cli('cache', 'purge', 'nobody@example.com')).code).toBe(1);
    expect((await cli('cache', 'purge')).code).toBe(64);
    expect((await cli('route', 'alice@example.com', '--protocol', 'smtp')).code).toBe(64);
  });

  it('sessions list shows the live sessions of every worker, and kick ends them', async () => {
    const client = await imapLogin('alice@example.com');
    const listed = await json<{ workers: number; sessions: { user: string; accountName: string; upstream: string; protocol: string }[] }>('sessions', 'list');
    expect(listed.workers).toBe(1);
    expect(listed.sessions).toEqual([expect.objectContaining({ user: 'alice@example.com', accountName: 'alice@example.com', protocol: 'imap' })]);
    expect(listed.sessions[0]!.upstream).toMatch(/^127\.0\.0\.2:\d+$/);
    expect((await json<{ sessions: unknown[] }>('sessions', 'list', '--user', 'bob@example.com')).sessions).toEqual([]);

    const kicked = await json<{ sessions: { user: string }[] }>('sessions', 'kick', 'alice@example.com');
    expect(kicked.sessions.map((s) => s.user)).toEqual(['alice@example.com']);
    expect((await client.until('* BYE')).at(-1)).toBe('* BYE Disconnected by the administrator');
    await client.closedByServer();
    expect(await proxy.service.metric('postern_mail_sessions_ended_total', { reason: 'kicked' })).toBe(1);
    expect((await cli('sessions', 'kick', 'alice@example.com')).code).toBe(1);
  });

  it("rest-url follows the home server, then the domain's public service name", async () => {
    const home = await json<{ url: string }>('rest-url', 'alice@example.com');
    expect(home.url).toMatch(/^https:\/\/127\.0\.0\.2:\d+\/home\/alice@example\.com$/);
    await modify('dc=example.com,ou=domains,dc=postern,dc=test', 'replace: zimbraPublicServiceHostname', 'zimbraPublicServiceHostname: mail.example.com');
    const plain = await cli('rest-url', 'al@example.com', '/Inbox?fmt=rss');
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toBe('http://mail.example.com/home/alice@example.com/Inbox?fmt=rss');
    expect((await cli('rest-url', 'nobody@example.com')).code).toBe(1);
  });

  it('says which server it could not reach, with exit 69', async () => {
    const port = await freePort();
    const down = await runCli(['events', 'list'], { ...env, POSTERN_NATS_URLS: `nats://127.0.0.1:${port}` });
    expect(down.code).toBe(69);
    expect(down.stderr).toContain(`cannot reach NATS at nats://127.0.0.1:${port}`);
    const viaFlag = await cli('--nats', `nats://127.0.0.1:${port}`, 'sessions', 'list');
    expect(viaFlag.code).toBe(69);
    const noDirectory = await runCli(['rest-url', 'alice@example.com'], { ...env, POSTERN_LDAP_URLS: `ldap://127.0.0.1:${port}` });
    expect(noDirectory.code).toBe(69);
    expect(noDirectory.stderr).toContain(`cannot read the directory at ldap://127.0.0.1:${port}`);
  });
});
