/**
 * bench:lookup — route lookups per second and p50/p99 latency over NATS, cold (directory) and
 * warm (shared cache), next to the directory's own search rate measured in the same run with the
 * same query and the same LDAP client (the reference: a lookup cannot beat the search it needs).
 *
 * Everything is real: nats-server, memcached, slapd with the fixture plus generated accounts, and
 * route-lookup processes in one queue group. Options: --users N (default 4000), --concurrency C
 * (32), --instances I (2).
 */
import { connect } from '@nats-io/transport-node';
import { RouteLookupContract } from '@postern/contracts';
import { DEFAULT_ZIMBRA_QUERIES, expandQueryTemplate, LdapDirectory } from '@postern/directory';
import { requestReply } from '@postern/service-kit';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { directoryEnv, startMemcached, startNats, startService, startSlapd, stopAll } from '../harness';
import { benchAccountsLdif } from './support/accounts';
import { measureOps } from './support/load';

const { values } = parseArgs({
  options: { users: { type: 'string', default: '4000' }, concurrency: { type: 'string', default: '32' }, instances: { type: 'string', default: '2' } },
});
const USERS = Number(values.users);
const CONCURRENCY = Number(values.concurrency);
const INSTANCES = Number(values.instances);

async function main(): Promise<void> {
  process.stdout.write(`bench:lookup — ${USERS} generated accounts, ${CONCURRENCY} requests in flight, ${INSTANCES} route-lookup instance(s)\n`);
  const [nats, memcached, slapd] = await Promise.all([
    startNats(),
    startMemcached(),
    startSlapd({ ldif: `${benchAccountsLdif({ count: USERS, mailHost: (i) => `127.0.0.${2 + (i % 2)}`, aliases: true })}\n` }),
  ]);
  const env = {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    ...directoryEnv(slapd),
    POSTERN_LOG_LEVEL: 'warn',
  };
  const instances = await Promise.all(Array.from({ length: INSTANCES }, () => startService('route-lookup', env)));
  const nc = await connect({ servers: nats.url });
  const ldap = new LdapDirectory({
    urls: [slapd.url],
    bindDn: slapd.rootDn,
    bindPassword: slapd.rootPassword,
    baseDn: slapd.baseDn,
    connectTimeoutMs: 2000,
    timeoutMs: 10_000,
  });
  try {
    const lookup = async (user: string) => {
      const r = await requestReply(nc, RouteLookupContract, { by: 'name', user, protocol: 'imap', clientIp: '192.0.2.1' }, 10_000);
      if (r.outcome !== 'ROUTE') throw new Error(`${user}: ${r.outcome}`);
    };
    // Warm up the processes (JIT, connections) on users the measured phases do not use.
    await measureOps('warm-up', 200, CONCURRENCY, (i) => lookup(i % 2 ? 'alice@example.com' : 'bob@example.com'));
    await measureOps('warm-up', 200, 8, (i) =>
      ldap.search(expandQueryTemplate(DEFAULT_ZIMBRA_QUERIES.mailHostQuery, { USER: `bench${i}@example.com` }), { sizeLimit: 1 }).then(() => undefined),
    );

    const directory = await measureOps('directory search (reference)', USERS, CONCURRENCY, async (i) => {
      const found = await ldap.search(expandQueryTemplate(DEFAULT_ZIMBRA_QUERIES.mailHostQuery, { USER: `b${i}@example.com` }), { sizeLimit: 1 });
      if (found.length !== 1) throw new Error(`b${i}: ${found.length} entries`);
    });
    const cold = await measureOps('lookup, cold (directory)', USERS, CONCURRENCY, (i) => lookup(`bench${i}@example.com`));
    const warm = await measureOps('lookup, warm (cache)', USERS, CONCURRENCY, (i) => lookup(`bench${i}@example.com`));
    const aliasWarm = await measureOps('lookup by alias (alias uncached)', USERS, CONCURRENCY, (i) => lookup(`b${i}@example.com`));

    const rows = [directory, cold, warm, aliasWarm];
    const pad = (s: string, n: number) => s.padEnd(n);
    process.stdout.write(`\n${pad('what', 34)}${pad('ops/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}ratio to directory search\n`);
    for (const r of rows) {
      process.stdout.write(
        `${pad(r.name, 34)}${pad(r.ops.toFixed(0), 10)}${pad(r.p50.toFixed(2), 9)}${pad(r.p99.toFixed(2), 9)}${pad(r.max.toFixed(2), 9)}${(r.ops / directory.ops).toFixed(2)}x\n`,
      );
    }
    process.stdout.write(
      `\nA cold lookup runs the account search (domain and server entries are remembered for 60 s), then writes the cache;\na warm one is a NATS round trip plus memcached reads. All processes share this machine's ${cpus().length} cores.\n`,
    );
  } finally {
    await Promise.allSettled([nc.close(), ldap.close()]);
    await Promise.all(instances.map((s) => s.stop()));
    await stopAll();
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:lookup failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
