/**
 * bench:throttle — throttle checks per second and p50/p99 latency over NATS with login-throttle
 * instances in one queue group, next to the raw `incr` rate of our memcached client measured in
 * the same run (the reference: a counted check is one round trip, its add+incr sent with the read
 * of the older sub-buckets).
 *
 * Rows: connect checks from many addresses (IP limit on), pre-login then login-succeeded for many
 * users (user and failure limits on: three counters read, one incremented), and a whitelisted
 * connect (no memcached at all: the NATS + service floor).
 *
 * Then the added cost per login: IMAP logins through one mail-proxy that asks the throttle over
 * NATS (posternThrottleChecks: service; every limit on, none reached) and one with the throttle off, to a minimal IMAP stand-in, same run
 * (bench:mail makes the same comparison against real Dovecot and nginx).
 *
 * Everything is real: nats-server, memcached, slapd, route-lookup, login-throttle and mail-proxy
 * processes. Options: --checks N (default 20000), --concurrency C (32), --instances I (2),
 * --addresses A (5000), --users U (5000), --logins L (3000).
 */
import { connect } from '@nats-io/transport-node';
import type { ThrottleCheckRequest } from '@postern/contracts';
import { MemcachedClient } from '@postern/memcached';
import { Deadline } from '@postern/service-kit';
import { ThrottleClient } from '@postern/throttle-client';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { directoryEnv, freePort, removeDir, scratchDir, startMemcached, startNats, startService, startSlapd, stopAll } from '../harness';
import { standinDirectory } from './support/accounts';
import { startImapStandin, standinPassword } from './support/imap-standin';
import { loginCycle, measureLogins, measureOps, type LoginFigures, type OpFigures } from './support/load';

const { values } = parseArgs({
  options: {
    checks: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    instances: { type: 'string', default: '2' },
    addresses: { type: 'string', default: '5000' },
    users: { type: 'string', default: '5000' },
    logins: { type: 'string', default: '3000' },
  },
});
const CHECKS = Number(values.checks);
const CONCURRENCY = Number(values.concurrency);
const INSTANCES = Number(values.instances);
const ADDRESSES = Number(values.addresses);
const USERS = Number(values.users);
const LOGINS = Number(values.logins);
/** The IMAP stand-in's loopback address for the per-login rows. */
const STANDIN_HOST = '127.0.0.5';
const STANDIN_ACCOUNTS = 200;

/** High enough that nothing is denied: the bench measures the counting, not the refusals. */
const NEVER = 1_000_000_000;
const LIMITS = {
  zimbraReverseProxyIPLoginImapLimit: NEVER,
  zimbraReverseProxyUserLoginLimit: NEVER,
  zimbraReverseProxyIPThrottleWhitelist: ['10.0.0.0/8'],
  posternFailedLoginUserLimit: NEVER,
  posternFailedLoginIpLimit: NEVER,
};

interface Figures extends OpFigures {
  /** memcached operations per op (for the table). */
  readonly memcachedOps: string;
}

/** {@link measureOps}, with the row's memcached operations per check for the table. */
async function measure(name: string, memcachedOps: string, count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Figures> {
  return { ...(await measureOps(name, count, concurrency, op)), memcachedOps };
}

/**
 * The added cost per login: one mail-proxy asking the throttle (every limit on, none reached) and
 * one with POSTERN_THROTTLE_ENABLED=false, same stand-in upstream, same routes, same run.
 */
async function loginsThroughTheMailProxy(dir: string, env: Record<string, string>): Promise<{ on: LoginFigures; off: LoginFigures }> {
  const standin = await startImapStandin({ host: STANDIN_HOST, messageBytes: 1024 });
  const slapd = await startSlapd({ ldif: standinDirectory(STANDIN_HOST, standin.port, STANDIN_ACCOUNTS) });
  await startService('route-lookup', { ...env, ...directoryEnv(slapd) });
  const proxy = async (name: string, extra: Record<string, string>) => {
    const port = await freePort();
    const file = join(dir, `${name}.json`);
    const attributes = {
      ...LIMITS,
      // This bench is about the service: the proxy asks it over NATS (the default decides locally).
      posternThrottleChecks: 'service',
      zimbraImapProxyBindPort: port,
      zimbraReverseProxyMailPop3Enabled: false,
      zimbraReverseProxySSLToUpstreamEnabled: false,
      zimbraReverseProxyImapStartTlsMode: 'off',
      zimbraReverseProxyMailMode: 'http',
    };
    writeFileSync(file, JSON.stringify({ attributes }));
    await startService('mail-proxy', { ...env, ...extra, POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' });
    return { host: '127.0.0.1', port };
  };
  const [on, off] = await Promise.all([proxy('throttle-on', {}), proxy('throttle-off', { POSTERN_THROTTLE_ENABLED: 'false' })]);
  const user = (i: number) => `bench${i % STANDIN_ACCOUNTS}@example.com`;
  const pass = (name: string, endpoint: { host: string; port: number }, count: number) =>
    measureLogins(name, count, CONCURRENCY, (i) => loginCycle(endpoint, user(i), standinPassword(user(i))));
  // Warm-up: JIT, and every account's route in the cache, on both.
  await pass('warm-up', off, 1000);
  await pass('warm-up', on, 1000);
  const offFigures = await pass('mail-proxy, throttle off', off, LOGINS);
  const onFigures = await pass('mail-proxy, throttle on', on, LOGINS);
  return { on: onFigures, off: offFigures };
}

const address = (i: number) => `198.18.${(i >> 8) & 255}.${i & 255}`;

async function main(): Promise<void> {
  process.stdout.write(
    `bench:throttle — ${CHECKS} checks per row, ${CONCURRENCY} in flight, ${INSTANCES} login-throttle instance(s), ${ADDRESSES} addresses, ${USERS} users\n`,
  );
  const [nats, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
  const dir = await scratchDir('bench-throttle');
  const configFile = join(dir, 'postern.json');
  writeFileSync(configFile, JSON.stringify({ attributes: LIMITS }));
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
    const floor = await measure('connect, whitelisted (NATS floor)', '0', CHECKS, CONCURRENCY, (i) =>
      throttle({ kind: 'connect', protocol: 'imap', clientIp: `10.1.${(i >> 8) & 255}.${i & 255}` }),
    );
    const connects = await measure('connect, IP limit on', '≤9 get + add + incr', CHECKS, CONCURRENCY, (i) =>
      throttle({ kind: 'connect', protocol: 'imap', clientIp: address(i % ADDRESSES) }),
    );
    const preLogin = await measure('pre-login (3 limits)', '≤30 get', CHECKS, CONCURRENCY, (i) =>
      throttle({ kind: 'pre-login', protocol: 'imap', clientIp: address(i % ADDRESSES), user: `user${i % USERS}@example.com` }),
    );
    const succeeded = await measure('login-succeeded', '≤9 get + add + incr', CHECKS, CONCURRENCY, (i) =>
      throttle({ kind: 'login-succeeded', protocol: 'imap', clientIp: address(i % ADDRESSES), user: `user${i % USERS}@example.com` }),
    );
    const pair = await measure('pre-login + login-succeeded', '≤39 get + add + incr', CHECKS / 2, CONCURRENCY, async (i) => {
      const request = { protocol: 'imap', clientIp: address(i % ADDRESSES), user: `pair${i % USERS}@example.com` } as const;
      await throttle({ kind: 'pre-login', ...request });
      await throttle({ kind: 'login-succeeded', ...request });
    });

    const perLogin = await loginsThroughTheMailProxy(dir, {
      POSTERN_NATS_URLS: nats.url,
      POSTERN_MEMCACHED_SERVERS: memcached.address,
      POSTERN_LOG_LEVEL: 'warn',
    });

    const rows = [incr, floor, connects, preLogin, succeeded, pair];
    const pad = (s: string, n: number) => s.padEnd(n);
    process.stdout.write(
      `\n${pad('what', 40)}${pad('memcached ops', 22)}${pad('ops/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('vs incr', 9)}vs floor\n`,
    );
    for (const r of rows) {
      process.stdout.write(
        `${pad(r.name, 40)}${pad(r.memcachedOps, 22)}${pad(r.ops.toFixed(0), 10)}${pad(r.p50.toFixed(2), 9)}${pad(r.p99.toFixed(2), 9)}${pad(r.max.toFixed(2), 9)}${pad(`${(r.ops / incr.ops).toFixed(3)}x`, 9)}${(r.ops / floor.ops).toFixed(2)}x\n`,
      );
    }
    process.stdout.write(`\nIMAP logins through one mail-proxy to a minimal IMAP stand-in (${LOGINS} per row, ${CONCURRENCY} in flight, routes cached)\n`);
    process.stdout.write(
      `${pad('what', 40)}${pad('logins/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('greet p50', 11)}${pad('LOGIN p50', 11)}errors\n`,
    );
    for (const r of [perLogin.off, perLogin.on]) {
      process.stdout.write(
        `${pad(r.name, 40)}${pad(r.rate.toFixed(0), 10)}${pad(r.p50.toFixed(2), 9)}${pad(r.p99.toFixed(2), 9)}${pad(r.greetingP50.toFixed(2), 11)}${pad(r.loginP50.toFixed(2), 11)}${r.errors}\n`,
      );
    }
    process.stdout.write(
      `${pad('added per login (on − off)', 40)}p50 +${(perLogin.on.p50 - perLogin.off.p50).toFixed(2)} ms, p99 +${(perLogin.on.p99 - perLogin.off.p99).toFixed(2)} ms, ` +
        `rate ${(perLogin.on.rate / perLogin.off.rate).toFixed(2)}x (connect, pre-login and login-succeeded checks)\n`,
    );
    process.stdout.write(
      `\nA counted check is one memcached round trip: add+incr of the current sub-bucket, sent with the read of the nine before it.\n` +
        `A check-only pre-login is one round of reads. Sub-buckets that can no longer change are read once per instance and\n` +
        `then kept, so a subject checked again reads only the open ones ("≤"). "pre-login + login-succeeded" is one login\n` +
        `(two checks in sequence). npm run bench:mail has the same comparison against real Dovecot and nginx.\n` +
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
