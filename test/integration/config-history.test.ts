/**
 * The config history as an operator relies on it, against a real slapd (with and without the
 * accesslog's `logold`), NATS with JetStream and a running config-watcher: a replay cannot wipe
 * the config by accident; a roll-back holds over later unrelated writes and lets go of a value the
 * directory changes; every event names every attribute whose effective value changed; and where
 * the change log has no old values, a write that changes nothing publishes nothing and drops no
 * route, and a no-op followed by a real move is one move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredConfigEvent } from '@postern/config-store';
import { RouteInvalidateContract, type RouteInvalidation } from '@postern/contracts';
import {
  directoryEnv,
  ldapModifyEntry,
  openConfigView,
  removeDir,
  runCli,
  runCliOnTerminal,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type ConfigView,
  type ServiceProcess,
  type SlapdServer,
} from '../harness';

const GLOBAL_DN = 'cn=config,cn=zimbra,dc=postern,dc=test';
const ALICE_DN = 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test';

let dir: string;
let memcachedAddress: string;
const views: ConfigView[] = [];

interface Stack {
  readonly slapd: SlapdServer;
  readonly watcher: ServiceProcess;
  readonly view: ConfigView;
  readonly env: Record<string, string>;
  /** Route invalidations seen on the bus since the stack started. */
  readonly invalidations: RouteInvalidation[];
}

async function stack(logOld: boolean, beforeWatcher?: (slapd: SlapdServer) => Promise<void>): Promise<Stack> {
  const [nats, slapd] = await Promise.all([startNats(), startSlapd({ logOld })]);
  await beforeWatcher?.(slapd);
  const env = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcachedAddress, ...directoryEnv(slapd) };
  const watcher = await startService('config-watcher', { ...env, POSTERN_WATCH_INTERVAL_MS: '100' });
  await waitFor('the first full read', async () => (await watcher.metric('postern_config_reconciles_total', { result: 'ok' })) >= 1);
  const view = await openConfigView(nats.url);
  views.push(view);
  const invalidations: RouteInvalidation[] = [];
  const subscription = view.nc.subscribe(RouteInvalidateContract.subject);
  void (async () => {
    for await (const message of subscription) invalidations.push(message.json<RouteInvalidation>());
  })();
  return { slapd, watcher, view, env, invalidations };
}

/** Writes a value to the global config and waits for its event: every event before it has been handled. */
async function fence(s: Stack, value: string): Promise<number> {
  const last = await s.view.store.lastSequence();
  await ldapModifyEntry(s.slapd, GLOBAL_DN, 'replace: zimbraReverseProxyIpThrottleMsg', `zimbraReverseProxyIpThrottleMsg: ${value}`);
  return (await s.view.waitForEvent(`the fence ${value}`, (e) => e.scope === 'global' && e.after?.zimbraReverseProxyIpThrottleMsg?.[0] === value, last))
    .sequence;
}

/**
 * The events after `after` up to the fence `through`, from a read that reached the fence: one that
 * stopped short (a consumer's read under load) is read again, so what is missing was never stored.
 */
async function eventsThrough(s: Stack, after: number, through: number): Promise<StoredConfigEvent[]> {
  let events: StoredConfigEvent[] = [];
  await waitFor(`the events up to ${through}`, async () => {
    events = await s.view.events(after + 1);
    return events.some((e) => e.sequence === through);
  });
  return events.filter((e) => e.sequence <= through);
}

async function globalAttributes(s: Stack): Promise<Record<string, string[]>> {
  const entry = await s.view.store.entry('global');
  if (!entry || entry === 'malformed') throw new Error('no global entry in the bucket');
  return entry.attributes;
}

beforeAll(async () => {
  dir = await scratchDir('config-history');
  memcachedAddress = (await startMemcached()).address;
});

afterAll(async () => {
  await Promise.all(views.map((v) => v.close()));
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('with old values in the change log (logold)', () => {
  let s: Stack;
  const cli = (...args: string[]) => runCli(args, s.env);
  beforeAll(async () => {
    s = await stack(true);
  });

  it('refuses a replay to before the first event, naming the first sequence and time, and changes nothing (exit 64)', async () => {
    const last = await s.view.store.lastSequence();
    const first = (await s.view.events())[0]!;
    for (const args of [
      ['--to', '1d'],
      ['--to', '1d', '--apply', '--yes'],
      ['--to', new Date(Date.parse(first.event.publishedAt) - 60_000).toISOString(), '--apply', '--yes'],
    ]) {
      const result = await cli('events', 'replay', ...args);
      expect(result.code, args.join(' ')).toBe(64);
      expect(result.stderr).toContain(`the first available is sequence ${first.sequence} at ${first.event.publishedAt}`);
    }
    expect(await s.view.store.lastSequence()).toBe(last);
    expect(Object.keys(await globalAttributes(s))).toContain('zimbraDefaultDomainName');
  });

  it('prints the differences of an --apply first, and without a terminal applies nothing without --yes', async () => {
    const before = await s.view.store.lastSequence();
    await ldapModifyEntry(s.slapd, GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 4s');
    await s.view.waitForEvent('the change', (e) => e.changed.includes('zimbraReverseProxyAuthWaitInterval'), before);
    const last = await s.view.store.lastSequence();
    const refused = await cli('events', 'replay', '--to', String(before), '--apply');
    expect(refused.code).toBe(64);
    expect(refused.stdout).toMatch(/global\s+zimbraReverseProxyAuthWaitInterval\s+\["10s"\]\s+\["4s"\]/);
    expect(refused.stderr).toContain('add --yes');
    expect(await s.view.store.lastSequence()).toBe(last);
    expect((await globalAttributes(s)).zimbraReverseProxyAuthWaitInterval).toEqual(['4s']);
  });

  it('asks on a terminal, and applies nothing unless the answer is yes', async () => {
    const last = await s.view.store.lastSequence();
    const args = ['events', 'replay', '--to', String(last - 1), '--apply'];
    const declined = await runCliOnTerminal(args, s.env, '[y/N]', 'n');
    expect(declined.output).toMatch(/zimbraReverseProxyAuthWaitInterval\s+\["10s"\]\s+\["4s"\]/);
    expect(declined.output).toContain('Roll back 1 entry');
    expect(declined.code).toBe(1);
    expect(await s.view.store.lastSequence()).toBe(last);
    const accepted = await runCliOnTerminal(args, s.env, '[y/N]', 'y');
    expect(accepted.code, accepted.output).toBe(0);
    expect(accepted.output).toContain('rolled back 1 entry');
    expect((await globalAttributes(s)).zimbraReverseProxyAuthWaitInterval).toEqual(['10s']);
  });

  it('holds a roll-back over a later unrelated write to the same entry, and lets a value go when the directory changes it', async () => {
    const before = await s.view.store.lastSequence();
    await ldapModifyEntry(
      s.slapd,
      GLOBAL_DN,
      'replace: zimbraReverseProxyAuthWaitInterval',
      'zimbraReverseProxyAuthWaitInterval: 7s',
      '-',
      'replace: zimbraReverseProxyUserLoginLimit',
      'zimbraReverseProxyUserLoginLimit: 40',
    );
    await s.view.waitForEvent('the two changes', (e) => e.changed.includes('zimbraReverseProxyUserLoginLimit'), before);
    const applied = await cli('events', 'replay', '--to', String(before), '--apply', '--yes', '--json');
    expect(applied.code, applied.stderr).toBe(0);
    const rolledBack = await globalAttributes(s);
    expect(rolledBack.zimbraReverseProxyAuthWaitInterval).toEqual(['10s']);
    expect(rolledBack.zimbraReverseProxyUserLoginLimit).toBeUndefined();

    // An unrelated write to the same entry: the rolled-back values stay, and the event names only what changed.
    const sequence = await fence(s, 'unrelated write');
    const unrelated = await s.view.store.event(sequence);
    expect(unrelated && 'event' in unrelated && unrelated.event.changed).toEqual(['zimbraReverseProxyIpThrottleMsg']);
    expect((await globalAttributes(s)).zimbraReverseProxyAuthWaitInterval).toEqual(['10s']);
    expect((await globalAttributes(s)).zimbraReverseProxyUserLoginLimit).toBeUndefined();

    const shown = JSON.parse((await cli('config', 'show', '--json')).stdout) as {
      pinned: { attribute: string; held: string[] | null; directory: string[] | null }[];
    };
    expect(shown.pinned).toEqual(
      expect.arrayContaining([
        { key: 'global', attribute: 'zimbraReverseProxyAuthWaitInterval', held: ['10s'], directory: ['7s'] },
        { key: 'global', attribute: 'zimbraReverseProxyUserLoginLimit', held: null, directory: ['40'] },
      ]),
    );

    // The directory changes one of them explicitly: that one applies, the other stays pinned; the event names both values that moved.
    const last = await s.view.store.lastSequence();
    await ldapModifyEntry(s.slapd, GLOBAL_DN, 'replace: zimbraReverseProxyUserLoginLimit', 'zimbraReverseProxyUserLoginLimit: 50');
    const released = await s.view.waitForEvent('the explicit change', (e) => e.changed.includes('zimbraReverseProxyUserLoginLimit'), last);
    expect(released.event.changed).toEqual(['zimbraReverseProxyUserLoginLimit']);
    expect(released.event.before?.zimbraReverseProxyUserLoginLimit).toBeUndefined();
    expect(released.event.after?.zimbraReverseProxyUserLoginLimit).toEqual(['50']);
    expect((await globalAttributes(s)).zimbraReverseProxyAuthWaitInterval).toEqual(['10s']);
  });

  it('publishes nothing and drops no route for a write that changes nothing', async () => {
    const fenced = await fence(s, 'before the no-op');
    const seen = s.invalidations.length;
    await ldapModifyEntry(s.slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.2');
    await ldapModifyEntry(s.slapd, GLOBAL_DN, 'replace: zimbraMailTrustedIP', 'zimbraMailTrustedIP: 127.0.0.1');
    const after = await fence(s, 'after the no-op');
    await s.view.nc.flush();
    expect((await eventsThrough(s, fenced, after)).map((e) => e.sequence)).toEqual([after]);
    expect(s.invalidations.slice(seen)).toEqual([]);
  });
});

describe('without old values in the change log (accesslog without logold)', () => {
  let s: Stack;
  beforeAll(async () => {
    // A write before the watcher starts: the log then shows whether it carries old values.
    s = await stack(false, (slapd) =>
      ldapModifyEntry(slapd, GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 10s'),
    );
  });

  it('says once at start that changes carry no old values, and what that costs', async () => {
    await waitFor('the line', async () => s.watcher.process.output().includes('changes carry no old values'));
    const lines = s.watcher.process
      .output()
      .split('\n')
      .filter((l) => l.includes('changes carry no old values'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"level":30');
    expect(lines[0]).toContain('logold');
  });

  it('compares an account with what it last published: a rewritten mail host is no move, a no-op then a move is one move', async () => {
    let last = await s.view.store.lastSequence();
    await ldapModifyEntry(s.slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    const first = await s.view.waitForEvent('the first move', (e) => e.scope === 'account' && e.entry === 'alice@example.com', last);
    // The first change of an account the watcher never published: its before is unknown, not empty.
    expect(first.event.before).toBeNull();
    await waitFor('its routes dropped', async () => s.invalidations.some((i) => i.accountNames.includes('alice@example.com')));
    expect(s.invalidations.map((i) => i.reason)).toEqual(['changed']);

    const fenced = await fence(s, 'before the rewrite');
    const seen = s.invalidations.length;
    await ldapModifyEntry(s.slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    await ldapModifyEntry(s.slapd, GLOBAL_DN, 'replace: zimbraReverseProxyAuthWaitInterval', 'zimbraReverseProxyAuthWaitInterval: 10s');
    await ldapModifyEntry(s.slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.3');
    await ldapModifyEntry(s.slapd, ALICE_DN, 'replace: zimbraMailHost', 'zimbraMailHost: 127.0.0.2');
    // The move first, then the fence: what the four writes published is then all before the fence.
    await s.view.waitForEvent('the move', (e) => e.scope === 'account' && e.after?.zimbraMailHost?.[0] === '127.0.0.2', fenced);
    last = await fence(s, 'after the move');
    const events = (await eventsThrough(s, fenced, last)).filter((e) => e.sequence < last);
    expect(events.map((e) => [e.event.scope, e.event.changed, e.event.before, e.event.after])).toEqual([
      ['account', ['zimbraMailHost'], expect.objectContaining({ zimbraMailHost: ['127.0.0.3'] }), expect.objectContaining({ zimbraMailHost: ['127.0.0.2'] })],
    ]);
    await waitFor('the move told', async () => s.invalidations.length > seen);
    await s.view.nc.flush();
    expect(s.invalidations.slice(seen).map((i) => i.reason)).toEqual(['moved']);
  });
});
