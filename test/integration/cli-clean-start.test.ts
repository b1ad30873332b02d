/**
 * A stack started in any order reads clean, and the operator's commands answer plainly. The
 * services start before any config-watcher has created the config stream and bucket: each says
 * once (info) that it waits and once that it follows them, with no warning and no stack, and reads
 * its settings again once (both of its layers at once). Then
 * `postern` against that stack (real NATS with JetStream, memcached, slapd, Dovecot, route-lookup,
 * mail-proxy): the protocol as an argument, an unqualified name, `cache purge` with nothing named,
 * `sessions list --user` by an alias, `rest-url` for a server without `zimbraMailMode`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  ldapModifyEntry,
  LineClient,
  PATIENT_BUDGETS,
  removeDir,
  runCli,
  scratchDir,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type MailboxServers,
  type MailProxyProcess,
  type ServiceProcess,
  type SlapdServer,
} from '../harness';

const MBOX2_DN = 'cn=mbox2,cn=servers,cn=zimbra,dc=postern,dc=test';

let dir: string;
let upstreams: MailboxServers;
let slapd: SlapdServer;
let env: Record<string, string>;
let lookup: ServiceProcess;
let throttle: ServiceProcess;
let proxy: MailProxyProcess;

const cli = (...args: string[]) => runCli(args, env);

/** The JSON log lines of a service (pino: level 30 info, 40 warn, 50 error). */
function logLines(service: ServiceProcess): { level: number; msg: string; err?: unknown }[] {
  return service.process
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; err?: unknown });
}
const said = (service: ServiceProcess, text: string) => logLines(service).filter((line) => line.msg.includes(text));
const warnings = (service: ServiceProcess) => logLines(service).filter((line) => line.level >= 40);

beforeAll(async () => {
  dir = await scratchDir('cli-clean-start');
  upstreams = await startMailboxServers();
  const [nats, memcached, ldap] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: upstreams.ldif })]);
  slapd = ldap;
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  env = { ...common, ...directoryEnv(slapd) };
  [lookup, throttle, proxy] = await Promise.all([
    startService('route-lookup', env),
    // Named as proxy1 (its zimbraServiceHostname): two layers, the global config and its server entry.
    startService('login-throttle', { ...common, POSTERN_SERVER_NAME: '127.0.0.1' }),
    startMailProxy(dir, 'mail-proxy', common, {
      ...PATIENT_BUDGETS,
      zimbraReverseProxySSLToUpstreamEnabled: false,
      zimbraReverseProxyImapStartTlsMode: 'off',
    }),
  ]);
});

afterAll(async () => {
  await stopAll();
  await upstreams?.stop();
  if (dir) await removeDir(dir);
});

describe('a clean start in any order', () => {
  it('services started before the config stream exists wait for it at info, then follow it, without a warning', async () => {
    const services = [lookup, throttle, proxy.service];
    await waitFor('each service to say it waits', () => services.every((s) => said(s, 'waiting for the config-watcher').length > 0));
    const watcher = await startService('config-watcher', { ...env, POSTERN_WATCH_INTERVAL_MS: '100' });
    await waitFor('each service to follow the config', () => services.every((s) => said(s, 'following postern-config').length > 0), { timeoutMs: 30_000 });
    await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
    for (const service of services) {
      expect(said(service, 'waiting for the config-watcher'), service.name).toEqual([expect.objectContaining({ level: 30 })]);
      expect(said(service, 'waiting for the config-watcher')[0]!.err, service.name).toBeUndefined();
      expect(warnings(service), service.name).toEqual([]);
      // Both layers arrive together: the settings are read again once, not once for each.
      expect(said(service, 'settings reloaded'), service.name).toHaveLength(1);
    }
  });
});

describe('postern, as an operator types it', () => {
  it('route takes the protocol as an argument as well as --protocol, and refuses two different ones', async () => {
    const positional = await cli('route', 'bob@example.com', 'pop3', '--json');
    expect(positional.code, positional.stderr).toBe(0);
    expect(JSON.parse(positional.stdout)).toMatchObject({ protocol: 'pop3', outcome: 'ROUTE', route: { accountName: 'bob@example.com', host: '127.0.0.3' } });
    const option = JSON.parse((await cli('route', 'bob@example.com', '--protocol', 'imap', '--json')).stdout) as { protocol: string };
    expect(option.protocol).toBe('imap');
    expect((await cli('route', 'bob@example.com', 'imap', '--protocol', 'imap')).code).toBe(0);
    const twice = await cli('route', 'bob@example.com', 'imap', '--protocol', 'pop3');
    expect(twice.code).toBe(64);
    expect(twice.stderr).toContain('named twice');
    expect((await cli('route', 'bob@example.com', 'smtp')).code).toBe(64);
  });

  it('route of an unqualified name says how it was qualified, and route-lookup logs no warning for it', async () => {
    const before = warnings(lookup).length;
    const found = await cli('route', 'alice');
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toContain('as alice@example.com');
    expect(found.stdout).toContain('alice is unqualified: its domain comes from zimbraDefaultDomainName');
    const unknown = await cli('route', 'nobody', '--json');
    expect(unknown.code).toBe(1);
    const answer = JSON.parse(unknown.stdout) as { outcome: string; qualifiedBy: string };
    expect(answer.outcome).toBe('NOT_FOUND');
    expect(answer.qualifiedBy).toContain('zimbraDefaultDomainName');
    // Both answers went through route-lookup (nothing was cached for an unqualified name without context).
    expect(await lookup.metric('postern_route_lookups_total', { outcome: 'ROUTE' })).toBeGreaterThanOrEqual(1);
    expect(warnings(lookup).slice(before)).toEqual([]);
  });

  it('loads NATS, LDAP and Nest only for the commands that need them (start-up time)', async () => {
    const preload = join(dir, 'modules.cjs');
    writeFileSync(preload, "process.on('exit', () => require('node:fs').writeFileSync(process.env.MODULES_OUT, Object.keys(require.cache).join('\\n')));\n");
    const loaded = async (...args: string[]) => {
      const out = join(dir, 'modules.txt');
      const result = await runCli(args, { ...env, NODE_OPTIONS: `--require ${preload}`, MODULES_OUT: out });
      expect(result.code, result.stderr).toBe(0);
      const modules = readFileSync(out, 'utf8');
      return (name: string) => modules.includes(`/node_modules/${name}/`);
    };
    const help = await loaded('--help');
    expect(['@nats-io/transport-node', 'ldapts', '@nestjs/core', 'zod'].filter(help)).toEqual([]);
    const route = await loaded('route', 'bob@example.com');
    expect(route('@nats-io/transport-node')).toBe(true);
    expect(['ldapts', '@nestjs/core'].filter(route)).toEqual([]);
    const events = await loaded('events', 'list');
    expect(events('@nats-io/jetstream')).toBe(true);
    expect(['ldapts', '@nestjs/core'].filter(events)).toEqual([]);
    const restUrl = await loaded('rest-url', 'alice@example.com');
    expect(restUrl('ldapts')).toBe(true);
    expect(['@nats-io/transport-node', '@nestjs/core'].filter(restUrl)).toEqual([]);
  });

  it('cache purge with nothing named says what to name', async () => {
    const none = await cli('cache', 'purge');
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('name what to purge: an account');
    expect(none.stderr).not.toContain('not both');
    const both = await cli('cache', 'purge', 'bob@example.com', '--domain', 'example.com');
    expect(both.code).toBe(64);
    expect(both.stderr).toContain('not both');
  });

  it('sessions list --user finds a session by an alias of its account', async () => {
    const client = await LineClient.connect({ port: proxy.imap });
    await client.line();
    client.send('a1 LOGIN alice@example.com alice-secret\r\n');
    expect((await client.until('a1 ')).at(-1)).toMatch(/^a1 OK/);
    const byAlias = await cli('sessions', 'list', '--user', 'alice.smith@example.com', '--json');
    expect(byAlias.code, byAlias.stderr).toBe(0);
    expect((JSON.parse(byAlias.stdout) as { sessions: { accountName: string }[] }).sessions).toEqual([
      expect.objectContaining({ accountName: 'alice@example.com', user: 'alice@example.com' }),
    ]);
    const other = JSON.parse((await cli('sessions', 'list', '--user', 'bob@example.com', '--json')).stdout) as { sessions: unknown[] };
    expect(other.sessions).toEqual([]);
    client.send('a2 LOGOUT\r\n');
    await client.closedByServer();
  });

  it('rest-url names what a server lacks (zimbraMailMode), not that it holds no mailboxes', async () => {
    expect((await cli('rest-url', 'bob@example.com')).code).toBe(0);
    await ldapModifyEntry(slapd, MBOX2_DN, 'delete: zimbraMailMode');
    const missing = await cli('rest-url', 'bob@example.com');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('127.0.0.3 has no zimbraMailMode');
    expect(missing.stderr).not.toContain('mailboxes');
  });
});
