/**
 * npm run drill — the cluster drill (see drill.ts): prints the table and exits 1 when a fault cost
 * a login beyond those in flight, a part did not come back, or a password left the login.
 *
 * Options: --clients C (8), --users U (60 accounts), --baseline B (10 s of load before the first
 * fault), --down D (3 s each part stays dead), --settle S (5 s of load after a part is back),
 * --route-ttl T (5s: zimbraReverseProxyCacheEntryTTL, short so that lookups keep reaching
 * route-lookup), --cache-retry R (5s: zimbraReverseProxyCacheReconnectInterval, default 1m),
 * --log-level L (info: the login audit lines are part of what is scanned).
 */
import { parseArgs } from 'node:util';
import { stopAll } from '../harness';
import { drillMisses, drillTable, runDrill } from './drill';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    users: { type: 'string', default: '60' },
    baseline: { type: 'string', default: '10' },
    down: { type: 'string', default: '3' },
    settle: { type: 'string', default: '5' },
    'route-ttl': { type: 'string', default: '5s' },
    'cache-retry': { type: 'string', default: '5s' },
    'log-level': { type: 'string', default: 'info' },
  },
});

const FAILED_LOGIN_IP_LIMIT = 5;

async function main(): Promise<void> {
  const options = {
    clients: Number(values.clients),
    users: Number(values.users),
    baselineSeconds: Number(values.baseline),
    downSeconds: Number(values.down),
    settleSeconds: Number(values.settle),
    recoveryTimeoutSeconds: 120,
    dashboard: true,
    routeTtl: values['route-ttl'],
    cacheRetry: values['cache-retry'],
    failedLoginIpLimit: FAILED_LOGIN_IP_LIMIT,
    logLevel: values['log-level'],
    progress: (line: string) => process.stderr.write(`${line}\n`),
  };
  process.stdout.write(
    `drill — ${options.clients} clients (IMAP, IMAPS, POP3, POP3S in turn) through HAProxy, ${options.users} accounts on 2 Dovecot servers; ` +
      `each part SIGKILLed, down ${options.downSeconds} s, restarted, then ${options.settleSeconds} s more; ` +
      `route cache TTL ${options.routeTtl}, memcached retry ${options.cacheRetry}, an abuser guessing a password (limit ${FAILED_LOGIN_IP_LIMIT} failed logins per address)\n\n`,
  );
  const report = await runDrill(options);
  process.stdout.write(drillTable(report));
  process.stdout.write(
    `\nscanned for the ${options.users + 2} passwords used: ${report.scanned.natsMessages.toLocaleString('en-US')} NATS messages, ` +
      `${(report.scanned.logBytes / 1e6).toFixed(1)} MB of service output, ${report.scanned.cacheEntries.toLocaleString('en-US')} memcached entries: ` +
      `${report.leaks.length === 0 ? 'none found' : report.leaks.join('; ')}\n`,
  );
  const empty = report.dashboard?.empty ?? [];
  process.stdout.write(
    `Grafana dashboard against Prometheus scraping the drill: ${report.dashboard?.panels} panels, ${empty.length === 0 ? 'every one with data' : `without data: ${empty.join('; ')}`}\n`,
  );
  const misses = drillMisses(report);
  process.stdout.write(
    misses.length === 0 ? '\ngoal met: no login failed beyond those in flight, every part came back\n' : `\ngoal missed:\n  ${misses.join('\n  ')}\n`,
  );
  process.exitCode = misses.length === 0 ? 0 : 1;
}

process.once('SIGINT', () => {
  void stopAll().finally(() => process.exit(130));
});

main().catch(async (error: unknown) => {
  process.stderr.write(`drill failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
