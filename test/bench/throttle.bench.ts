/**
 * bench:throttle — throttle checks per second and p50/p99 latency over NATS with login-throttle
 * instances in one queue group, next to the raw `incr` rate of our memcached client measured in
 * the same run (the reference: a counted check is one read round and one add+incr round).
 *
 * Rows: connect checks from many addresses (IP limit on), pre-login then login-succeeded for many
 * users (user and failure limits on: three counters read, one incremented), and a whitelisted
 * connect (no memcached at all: the NATS + service floor).
 *
 * The added cost per login through the mail proxy (the throttle on and off) is measured by
 * bench:mail.
 *
 * Everything is real: nats-server, memcached, login-throttle processes. Options: --checks N
 * (default 20000), --concurrency C (32), --instances I (2), --addresses A (5000), --users U (5000).
 */
import { connect } from '@nats-io/transport-node';
import type { ThrottleCheckRequest } from '@postern/contracts';
import { MemcachedClient } from '@postern/route-cache';
import { Deadline } from '@postern/service-kit';
import { ThrottleClient } from '@postern/throttle-client';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { removeDir, scratchDir, startMemcached, startNats, startService, stopAll } from '../harness';

const { values } = parseArgs({
  options: {
    checks: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    instances: { type: 'string', default: '2' },
    addresses: { type: 'string', default: '5000' },
    users: { type: 'string', default: '5000' },
  },
});
const CHECKS = Number(values.checks);
const CONCURRENCY = Number(values.concurrency);
const INSTANCES = Number(values.instances);
const ADDRESSES = Number(values.addresses);
const USERS = Number(values.users);

/** High enough that nothing is denied: the bench measures the counting, not the refusals. */
const NEVER = 1_000_000_000;

interface Figures {
  name: string;
  ops: number;
  p50: number;
  p99: number;
  /** memcached operations per op (for the table). */
  memcachedOps: string;
}

/** Runs `count` operations with `concurrency` in flight; latencies in milliseconds. */
async function measure(name: string, memcachedOps: string, count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Figures> {
  const latencies: number[] = new Array(count);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        await op(i);
        latencies[i] = performance.now() - t;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(count - 1, Math.floor(q * count))]!;
  return { name, ops: count / seconds, p50: at(0.5), p99: at(0.99), memcachedOps };
}

const address = (i: number) => `198.18.${(i >> 8) & 255}.${i & 255}`;

async function main(): Promise<void> {
  process.stdout.write(`bench:throttle — ${CHECKS} checks per row, ${CONCURRENCY} in flight, ${INSTANCES} login-throttle instance(s), ${ADDRESSES} addresses, ${USERS} users\n`);
  const [nats, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
  const dir = await scratchDir('bench-throttle');
  const configFile = join(dir, 'postern.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      attributes: {
        zimbraReverseProxyIPLoginImapLimit: NEVER,
        zimbraReverseProxyUserLoginLimit: NEVER,
        zimbraReverseProxyIPThrottleWhitelist: ['10.0.0.0/8'],
        posternFailedLoginUserLimit: NEVER,
        posternFailedLoginIpLimit: NEVER,
      },
    }),
  );
  const env = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_CONFIG_FILE: configFile, POSTERN_LOG_LEVEL: 'warn' };
  const instances = await Promise.all(Array.from({ length: INSTANCES }, () => startService('login-throttle', env)));
  const nc = await connect({ servers: nats.url });
  const client = new ThrottleClient(nc);
  const raw = new MemcachedClient({ servers: [memcached.address] });
  try {
    const throttle = async (request: ThrottleCheckRequest, expect: 'allow' = 'allow') => {
      const result = await client.check(request, new Deadline(10_000));
      if (result.verdict !== expect) throw new Error(`${request.kind}: ${JSON.stringify(result)}`);
    };
    const keys = Array.from({ length: 1000 }, (_, i) => `bench:throttle:${i}`);
    await Promise.all(keys.map((key) => raw.set(key, '0', 600)));

    // Warm up the processes (JIT, connections) before measuring.
    await measure('warm-up', '', 2000, CONCURRENCY, (i) => raw.incr(keys[i % keys.length]!, 1).then(() => undefined));
    await measure('warm-up', '', 2000, CONCURRENCY, (i) => throttle({ kind: 'connect', protocol: 'imap', clientIp: `192.0.2.${i % 250}` }));

    const incr = await measure('memcached incr, our client (reference)', '1', CHECKS, CONCURRENCY, async (i) => {
      await raw.incr(keys[i % keys.length]!, 1);
    });
    const floor = await measure('connect, whitelisted (NATS floor)', '0', CHECKS, CONCURRENCY, (i) => throttle({ kind: 'connect', protocol: 'imap', clientIp: `10.1.${(i >> 8) & 255}.${i & 255}` }));
    const connects = await measure('connect, IP limit on', '10 get + add + incr', CHECKS, CONCURRENCY, (i) => throttle({ kind: 'connect', protocol: 'imap', clientIp: address(i % ADDRESSES) }));
    const preLogin = await measure('pre-login (3 limits)', '30 get', CHECKS, CONCURRENCY, (i) => throttle({ kind: 'pre-login', protocol: 'imap', clientIp: address(i % ADDRESSES), user: `user${i % USERS}@example.com` }));
    const succeeded = await measure('login-succeeded', '10 get + add + incr', CHECKS, CONCURRENCY, (i) => throttle({ kind: 'login-succeeded', protocol: 'imap', clientIp: address(i % ADDRESSES), user: `user${i % USERS}@example.com` }));
    const pair = await measure('pre-login + login-succeeded', '42', CHECKS / 2, CONCURRENCY, async (i) => {
      const request = { protocol: 'imap', clientIp: address(i % ADDRESSES), user: `pair${i % USERS}@example.com` } as const;
      await throttle({ kind: 'pre-login', ...request });
      await throttle({ kind: 'login-succeeded', ...request });
    });

    const rows = [incr, floor, connects, preLogin, succeeded, pair];
    const pad = (s: string, n: number) => s.padEnd(n);
    process.stdout.write(`\n${pad('what', 40)}${pad('memcached ops', 22)}${pad('ops/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('vs incr', 9)}vs floor\n`);
    for (const r of rows) {
      process.stdout.write(
        `${pad(r.name, 40)}${pad(r.memcachedOps, 22)}${pad(r.ops.toFixed(0), 10)}${pad(r.p50.toFixed(2), 9)}${pad(r.p99.toFixed(2), 9)}${pad(`${(r.ops / incr.ops).toFixed(3)}x`, 9)}${(r.ops / floor.ops).toFixed(2)}x\n`,
      );
    }
    process.stdout.write(
      `\nA counted check is two memcached round trips (read the ten sub-buckets, then add+incr the current one); a check-only\n` +
        `pre-login is one round of reads per limit. "pre-login + login-succeeded" is one login (two checks in sequence).\n` +
        `The added cost per login through the mail proxy (throttle on vs off) is in npm run bench:mail.\n` +
        `All processes share this machine's ${cpus().length} cores.\n`,
    );
  } finally {
    await Promise.allSettled([nc.close(), raw.close()]);
    await Promise.all(instances.map((s) => s.stop()));
    await stopAll();
    await removeDir(dir);
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:throttle failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
