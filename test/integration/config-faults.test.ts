/**
 * The config path when its dependencies fail: a directory that stops answering (the watcher backs
 * off, services keep serving on their last config and say how old it is, and changes flow again
 * when it is back), a NATS server restarted on its store, and one that lost its store (the watcher
 * makes the stream and the bucket again from the directory). Real slapd, NATS with JetStream,
 * memcached, config-watcher and mail-proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  ldapModifyEntry,
  LineClient,
  openConfigView,
  removeDir,
  scratchDir,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type MailProxyProcess,
  type NatsServer,
  type ServiceProcess,
  type SlapdServer,
} from '../harness';

const GLOBAL_DN = 'cn=config,cn=zimbra,dc=postern,dc=test';
const BANNER = 'zimbraReverseProxyImapExposeVersionOnBanner';
/** Long enough for a loaded machine to notice an outage (the watcher's LDAP operation timeout is 10 s). */
const OUTAGE_MS = 60_000;

let dir: string;
let nats: NatsServer;
let slapd: SlapdServer;
let watcher: ServiceProcess;
let proxy: MailProxyProcess;

async function greeting(): Promise<string> {
  const client = await LineClient.connect({ port: proxy.imap });
  try {
    return await client.line();
  } finally {
    client.send('z LOGOUT\r\n');
  }
}

const banner = (on: boolean) => ldapModifyEntry(slapd, GLOBAL_DN, `replace: ${BANNER}`, `${BANNER}: ${on ? 'TRUE' : 'FALSE'}`);
const showsVersion = async () => / Postern \S+ IMAP4 ready$/.test(await greeting());

beforeAll(async () => {
  dir = await scratchDir('config-faults');
  const memcached = await startMemcached();
  [nats, slapd] = await Promise.all([startNats(), startSlapd()]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  watcher = await startService('config-watcher', {
    ...common,
    ...directoryEnv(slapd),
    POSTERN_WATCH_INTERVAL_MS: '100',
    // Retries at least once a second once the directory or NATS is back.
    POSTERN_WATCH_MAX_BACKOFF_MS: '1000',
  });
  await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
  proxy = await startMailProxy(dir, 'mail-proxy', { ...common, POSTERN_THROTTLE_ENABLED: 'false' }, { zimbraReverseProxyImapStartTlsMode: 'off' });
});

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('config faults', () => {
  it('keeps serving on the last config while the directory is down, says how stale it is, and applies changes once it is back', async () => {
    expect(await showsVersion()).toBe(false);
    await slapd.pause();
    try {
      await waitFor('the watcher to see the directory down', async () => (await watcher.metric('postern_config_directory_up')) === 0, { timeoutMs: OUTAGE_MS });
      await waitFor('the config to be reported stale', async () => (await proxy.service.metric('postern_config_age_seconds')) > 6, { timeoutMs: OUTAGE_MS });
      expect(await showsVersion()).toBe(false);
      expect(await watcher.metric('postern_config_directory_errors_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await slapd.resume();
    }
    await banner(true);
    await waitFor('the change applied after the outage', showsVersion, { timeoutMs: OUTAGE_MS });
    await waitFor('the config fresh again', async () => (await proxy.service.metric('postern_config_age_seconds')) < 6, { timeoutMs: OUTAGE_MS });
  });

  it('follows changes again after NATS restarts on its store', async () => {
    const before = await proxy.service.metric('postern_config_sequence');
    nats = await nats.restart({ keepStore: true });
    await banner(false);
    await waitFor('the change applied after the restart', async () => !(await showsVersion()), { timeoutMs: OUTAGE_MS });
    expect(await proxy.service.metric('postern_config_sequence')).toBeGreaterThan(before);
  });

  it('makes the stream and the bucket again from the directory when NATS lost its store, and services follow', async () => {
    nats = await nats.restart({ keepStore: false });
    await banner(true);
    await waitFor('the change applied on the new store', showsVersion, { timeoutMs: OUTAGE_MS });
    const view = await openConfigView(nats.url);
    try {
      const events = await view.events();
      expect(events.some((e) => e.event.source === 'reconcile' && e.event.scope === 'global')).toBe(true);
      const global = await view.store.entry('global');
      expect(global !== 'malformed' && global?.attributes[BANNER]).toEqual(['TRUE']);
    } finally {
      await view.close();
    }
  });
});
