/**
 * The config watcher's two other change sources: contextCSN/modifyTimestamp polling of an LDAP
 * server (here slapd, told to ignore its accesslog) and the single node's LDIF file, edited in
 * place. Each has its own NATS with JetStream, so their streams are their own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_FIXTURE_PATH } from '@postern/directory';
import {
  directoryEnv,
  ldapModify,
  ldapModifyEntry,
  runCli,
  openConfigView,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type ConfigView,
  type NatsServer,
  type SlapdServer,
} from '../harness';

const GLOBAL_DN = 'cn=config,cn=zimbra,dc=postern,dc=test';
const ALICE_DN = 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test';

let dir: string;
let memcachedAddress: string;
const views: ConfigView[] = [];

/** A watcher on a NATS of its own; returns the view of its stream once its first full read is done. */
async function watcherOn(env: Record<string, string>, nats?: NatsServer): Promise<ConfigView> {
  nats ??= await startNats();
  const watcher = await startService('config-watcher', {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcachedAddress,
    POSTERN_WATCH_INTERVAL_MS: '100',
    ...env,
  });
  await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
  const view = await openConfigView(nats.url);
  views.push(view);
  return view;
}

beforeAll(async () => {
  dir = await scratchDir('config-sources');
  memcachedAddress = (await startMemcached()).address;
});

afterAll(async () => {
  await Promise.all(views.map((v) => v.close()));
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('poll source (no accesslog)', () => {
  let slapd: SlapdServer;
  let view: ConfigView;
  beforeAll(async () => {
    slapd = await startSlapd();
    view = await watcherOn({ ...directoryEnv(slapd), POSTERN_WATCH_SOURCE: 'poll', POSTERN_RECONCILE_INTERVAL_MS: '1000' });
    // The first pass publishes what the fixture load just wrote, accounts last; on a loaded machine
    // it can still be going when the tests start, and a test's own write would then meet it.
    await view.waitForEvent('alice published by the first pass', (e) => e.scope === 'account' && e.entry === 'alice@example.com');
  });

  it('sees a global change and an account move by modifyTimestamp', async () => {
    const last = await view.store.lastSequence();
    await ldapModifyEntry(slapd, GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 4s');
    const global = await view.waitForEvent('the global change', (e) => e.changed.includes('zimbraReverseProxyAuthWaitInterval'), last);
    expect(global.event).toMatchObject({ scope: 'global', source: 'poll' });
    expect(global.event.before?.zimbraReverseProxyAuthWaitInterval).toEqual(['10s']);
    await ldapModifyEntry(slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    const moved = await view.waitForEvent('the account change', (e) => e.scope === 'account' && e.entry === 'alice@example.com', last);
    // Polling has no old values: the account is compared with what the watcher last published of it
    // (its first start published the accounts the fixture load had just written).
    expect(moved.event).toMatchObject({ source: 'poll', changed: ['zimbraMailHost'] });
    expect(moved.event.before?.zimbraMailHost).toEqual(['127.0.0.2']);
    expect(moved.event.after?.zimbraMailHost).toEqual(['127.0.0.3']);
  });

  it('publishes nothing for a write that changes nothing', async () => {
    const last = await view.store.lastSequence();
    await ldapModifyEntry(slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    await ldapModifyEntry(slapd, GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 5s');
    await view.waitForEvent('the fence', (e) => e.after?.zimbraReverseProxyAuthWaitInterval?.[0] === '5s', last);
    expect((await view.events(last + 1)).map((e) => [e.event.scope, e.event.changed])).toEqual([['global', ['zimbraReverseProxyAuthWaitInterval']]]);
  });

  it('finds a deleted domain by the periodic full read', async () => {
    const last = await view.store.lastSequence();
    await ldapModify(slapd, ['dn: dc=example.net,ou=domains,dc=postern,dc=test', 'changetype: delete', ''].join('\n'));
    const gone = await view.waitForEvent('the delete', (e) => e.scope === 'domain' && e.op === 'delete', last);
    expect(gone.event).toMatchObject({ entry: 'example.net', source: 'reconcile', after: null });
  });
});

describe('LDIF file source', () => {
  let file: string;
  let view: ConfigView;
  let cliEnv: Record<string, string>;
  beforeAll(async () => {
    file = join(dir, 'directory.ldif');
    writeFileSync(file, readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8'));
    const nats = await startNats();
    cliEnv = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcachedAddress, POSTERN_DIRECTORY_LDIF: file };
    // route-lookup reads the same file (and reads it again when it changes).
    await startService('route-lookup', cliEnv);
    view = await watcherOn({ POSTERN_DIRECTORY_LDIF: file }, nats);
  });

  const routeOf = async (user: string) => {
    const result = await runCli(['route', user, '--json'], cliEnv);
    return JSON.parse(result.stdout) as { route: { host: string } };
  };

  it('publishes the file at start, then each edit as a diff', async () => {
    const first = await view.events();
    expect(first.filter((e) => e.event.scope === 'server').map((e) => e.event.entry)).toEqual(expect.arrayContaining(['127.0.0.2', '127.0.0.3']));
    expect((await routeOf('alice@example.com')).route.host).toBe('127.0.0.2');
    expect((await routeOf('alice@example.com')).route.host).toBe('127.0.0.2'); // now from the shared cache
    const last = await view.store.lastSequence();
    const text = readFileSync(file, 'utf8');
    const edited = text
      .replace('zimbraReverseProxyAuthWaitInterval: 10s', 'zimbraReverseProxyAuthWaitInterval: 3s')
      .replace(/(uid: alice[\s\S]*?zimbraMailHost: )127\.0\.0\.2/, '$1127.0.0.3');
    expect(edited).not.toBe(text);
    writeFileSync(file, edited);
    const global = await view.waitForEvent('the global edit', (e) => e.changed.includes('zimbraReverseProxyAuthWaitInterval'), last);
    expect(global.event.source).toBe('ldif');
    expect(global.event.after?.zimbraReverseProxyAuthWaitInterval).toEqual(['3s']);
    const moved = await view.waitForEvent('the account edit', (e) => e.scope === 'account' && e.entry === 'alice@example.com', last);
    expect(moved.event).toMatchObject({
      op: 'modify',
      changed: ['zimbraMailHost'],
      before: { zimbraMailHost: ['127.0.0.2'] },
      after: { zimbraMailHost: ['127.0.0.3'] },
    });
    // The cached route was dropped, and route-lookup answers from the edited file.
    await waitFor('the new route', async () => (await routeOf('alice@example.com')).route.host === '127.0.0.3');
  });
});
