/**
 * bench:config — how long a directory change takes to reach the running services, measured from
 * the LDAP modify's answer: to the event on POSTERN_CONFIG, to a mail-proxy running on it (its
 * `postern_config_sequence`), and for a mailbox move to the route invalidation every node hears.
 * p50 / p99 / max over N changes of each kind, and the watcher's CPU per change from /proc.
 *
 * The peer is Zimbra's own proxy: zmconfigd regenerates nginx's configuration from LDAP once a
 * minute, and a moved mailbox's route stays cached up to zimbraReverseProxyCacheEntryTTL (1 h);
 * neither runs here, so their figures are the documented intervals, not measurements.
 *
 * Real slapd with accesslog, NATS/JetStream, memcached, config-watcher, route-lookup, mail-proxy.
 * Options: --changes N (default 60), --interval MS (the watcher's POSTERN_WATCH_INTERVAL_MS, 250).
 */
import { connect } from '@nats-io/transport-node';
import { Attribute, Change, Client } from 'ldapts';
import { parseArgs } from 'node:util';
import { directoryEnv, removeDir, scratchDir, startMailProxy, startMemcached, startNats, startService, startSlapd, stopAll } from '../harness';
import { cpuMs, percentile } from './support/load';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '60' }, interval: { type: 'string', default: '250' } } });
const CHANGES = Number(values.changes);
const INTERVAL = values.interval;
const GLOBAL_DN = 'cn=config,cn=zimbra,dc=postern,dc=test';
const ALICE_DN = 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test';
/** How often the proxy's metric is read while waiting for it to apply a change (the resolution of that column). */
const POLL_MS = 5;

/** Changes come at random moments, not in step with the watcher's polling. */
const arrival = () => new Promise((resolve) => setTimeout(resolve, Math.random() * Number(INTERVAL)));
const replace = (type: string, value: string) => new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) });

function row(name: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (ms: number) => `${ms.toFixed(0)} ms`.padStart(8);
  return `${name.padEnd(46)} ${f(percentile(sorted, 0.5))} ${f(percentile(sorted, 0.99))} ${f(sorted.at(-1) ?? NaN)}`;
}

async function main(): Promise<void> {
  process.stdout.write(`bench:config — ${CHANGES} changes of each kind, watcher polling its change log every ${INTERVAL} ms\n`);
  const dir = await scratchDir('bench-config');
  const [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd()]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_LOG_LEVEL: 'warn' };
  const watcher = await startService('config-watcher', { ...common, ...directoryEnv(slapd), POSTERN_WATCH_INTERVAL_MS: INTERVAL });
  await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
  const proxy = await startMailProxy(dir, 'mail-proxy', common, {});
  const nc = await connect({ servers: nats.url });
  const ldap = new Client({ url: slapd.url });
  await ldap.bind(slapd.rootDn, slapd.rootPassword);
  try {
    // Events and invalidations as they go by (the stream's subjects are ordinary subjects too).
    const waiters = new Map<string, (sequence: number) => void>();
    const events = nc.subscribe('postern.config.>', {
      callback: (_error, msg) => {
        const event = msg.json<{ changed: string[]; after: Record<string, string[]> | null }>();
        const key = `${event.changed.join(',')}=${JSON.stringify(event.after?.zimbraReverseProxyAuthWaitInterval ?? event.after?.zimbraMailHost ?? null)}`;
        const sequence = Number(msg.headers?.get('Nats-Sequence') ?? 0);
        waiters.get(key)?.(sequence);
      },
    });
    const invalidations = nc.subscribe('postern.route.invalidate.v1', { callback: () => waiters.get('invalidate')?.(0) });
    await nc.flush();
    const seen = (key: string) => new Promise<number>((resolve) => waiters.set(key, resolve));
    const sequenceOf = async () => proxy.service.metric('postern_config_sequence');

    const published: number[] = [];
    const applied: number[] = [];
    const invalidated: number[] = [];
    const cpuBefore = await cpuMs(watcher.process.pid);
    let lastSequence = await sequenceOf();
    for (let i = 0; i < CHANGES; i++) {
      const value = `${2 + (i % 2)}s`;
      await arrival();
      const event = seen(`zimbraReverseProxyAuthWaitInterval=${JSON.stringify([value])}`);
      await ldap.modify(GLOBAL_DN, replace('zimbraReverseProxyAuthWaitInterval', value));
      const answered = performance.now();
      await event;
      published.push(performance.now() - answered);
      // Applied: the proxy's sequence moved past the one it had.
      while ((await sequenceOf()) <= lastSequence) await new Promise((r) => setTimeout(r, POLL_MS));
      applied.push(performance.now() - answered);
      lastSequence = await sequenceOf();
    }
    for (let i = 0; i < CHANGES; i++) {
      // Alternating, starting away from the fixture's 127.0.0.2: every write is a move.
      const host = `127.0.0.${3 - (i % 2)}`;
      await arrival();
      const heard = seen('invalidate');
      await ldap.modify(ALICE_DN, replace('zimbraMailHost', host));
      const answered = performance.now();
      await heard;
      invalidated.push(performance.now() - answered);
    }
    const cpuPerChange = (await cpuMs(watcher.process.pid)) - cpuBefore;
    events.unsubscribe();
    invalidations.unsubscribe();
    process.stdout.write(`\n${'from the LDAP modify answered to'.padEnd(46)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}\n`);
    process.stdout.write(`${row('the event on POSTERN_CONFIG (global config)', published)}\n`);
    process.stdout.write(`${row('a running mail-proxy on it (±5 ms polling)', applied)}\n`);
    process.stdout.write(`${row('a mailbox move: routes dropped, every node told', invalidated)}\n`);
    process.stdout.write(
      `\nconfig-watcher CPU: ${(cpuPerChange / (2 * CHANGES)).toFixed(2)} ms per change, its idle polling included (from /proc, ${2 * CHANGES} changes)\n`,
    );
    process.stdout.write(
      `Zimbra's proxy (documented, not run here): config regenerated every 60 s (zmconfigd), a moved mailbox's cached route kept up to 1 h; ` +
        `median ratio Postern / Zimbra for config ≈ ${(
          percentile(
            [...applied].sort((a, b) => a - b),
            0.5,
          ) / 30_000
        ).toFixed(4)} (against its 30 s mean wait)\n`,
    );
  } finally {
    await ldap.unbind().catch(() => undefined);
    await nc.close();
    await stopAll();
    await removeDir(dir);
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
