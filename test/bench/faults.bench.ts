/**
 * bench:faults — what losing one part of a Postern stack costs the logins in flight.
 *
 * Each row starts a fresh stack (one nats-server, one memcached, slapd, one route-lookup, one
 * login-throttle — two in the last row — and one mail-proxy) in front of the fast IMAP stand-in,
 * with every login limit on but far too high to deny (so every login is checked). C clients log in
 * and out in a loop for D seconds; at K seconds one part is killed with SIGKILL. Then one more
 * login by a user whose route is cached, timed. The frontend asks the throttle service over NATS
 * (posternThrottleChecks: service) and otherwise runs with its defaults: fail open, the per-call
 * budgets and hedge delays of `@postern/config`.
 *
 * Options: --clients C (32), --seconds D (8), --kill-at K (3), --users U (100 stand-in accounts),
 * --log-level L (warn).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  freePort,
  LIMITS_ON_NEVER_DENY,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  type ManagedProcess,
  type NatsServer,
  type ServiceProcess,
} from '../harness';
import { standinDirectory } from './support/accounts';
import type { Endpoint } from './support/imap-client';
import { standinPassword, startImapStandin } from './support/imap-standin';
import { loginCycle, percentile } from './support/load';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '8' },
    'kill-at': { type: 'string', default: '3' },
    users: { type: 'string', default: '100' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const KILL_AT = Number(values['kill-at']);
const USERS = Number(values.users);
const LOG_LEVEL = values['log-level'];

const STANDIN_HOST = '127.0.0.4';
const LIMITS_ON = LIMITS_ON_NEVER_DENY;
/** How long the login after the drill is waited for before it is reported as still waiting. */
const AFTER_WAIT_MS = 15_000;

const user = (i: number) => `bench${i % USERS}@example.com`;

type Part = 'none' | 'memcached' | 'route-lookup' | 'NATS server' | 'login-throttle' | 'one of two login-throttles';
const PARTS: readonly Part[] = ['none', 'memcached', 'route-lookup', 'NATS server', 'login-throttle', 'one of two login-throttles'];

interface Row {
  readonly part: Part;
  readonly ok: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly p99: number;
  readonly slowest: number;
  readonly after: string;
  readonly fallbacks: number;
  readonly hedges: number;
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

async function drill(part: Part, dir: string): Promise<Row> {
  const standin = await startImapStandin({ host: STANDIN_HOST, messageBytes: 1024 });
  let nats: NatsServer | undefined;
  try {
    const [natsServer, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
    nats = natsServer;
    const slapd = await startSlapd({ ldif: standinDirectory(STANDIN_HOST, standin.port, USERS) });
    const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_LOG_LEVEL: LOG_LEVEL };
    const throttleConfig = join(dir, `${part}-throttle.json`);
    writeFileSync(throttleConfig, JSON.stringify({ attributes: LIMITS_ON }));
    const port = await freePort();
    const proxyConfig = join(dir, `${part}-proxy.json`);
    writeFileSync(
      proxyConfig,
      JSON.stringify({
        attributes: {
          ...LIMITS_ON,
          // The throttle asked over NATS: losing an instance or the bus is what these rows measure
          // (a frontend deciding its checks itself, the default, does not ask the service at all).
          posternThrottleChecks: 'service',
          zimbraImapProxyBindPort: port,
          zimbraReverseProxyMailPop3Enabled: false,
          zimbraReverseProxyMailImapsEnabled: false,
          zimbraReverseProxyMailPop3sEnabled: false,
          zimbraReverseProxySSLToUpstreamEnabled: false,
          zimbraReverseProxyImapStartTlsMode: 'off',
          zimbraReverseProxyMailMode: 'http',
        },
      }),
    );
    const throttleCount = part === 'one of two login-throttles' ? 2 : 1;
    const [lookup, ...rest] = await Promise.all([
      startService('route-lookup', {
        ...common,
        POSTERN_LDAP_URLS: slapd.url,
        POSTERN_LDAP_BIND_DN: slapd.rootDn,
        POSTERN_LDAP_BIND_PASSWORD: slapd.rootPassword,
        POSTERN_LDAP_BASE_DN: slapd.baseDn,
      }),
      ...Array.from({ length: throttleCount }, () => startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleConfig })),
      startService('mail-proxy', { ...common, POSTERN_CONFIG_FILE: proxyConfig, POSTERN_BIND_HOST: '127.0.0.1' }),
    ]);
    const proxy = rest.pop()!;
    const throttles = rest as ServiceProcess[];
    const endpoint: Endpoint = { host: '127.0.0.1', port };
    // Every route cached, as in steady state.
    for (let i = 0; i < USERS; i++) await loginCycle(endpoint, user(i), standinPassword(user(i)));

    const victims: Record<Part, ManagedProcess | undefined> = {
      none: undefined,
      memcached: memcached.process,
      'route-lookup': lookup.process,
      'NATS server': nats.process,
      'login-throttle': throttles[0]!.process,
      'one of two login-throttles': throttles[0]!.process,
    };
    progress(`  ${part}: ${CLIENTS} clients for ${SECONDS} s${part === 'none' ? '' : `, SIGKILL at ${KILL_AT} s`}`);
    const victim = victims[part];
    const killer = victim ? setTimeout(() => void victim.kill(), KILL_AT * 1000) : undefined;
    const times: number[] = [];
    let failed = 0;
    let firstError: string | undefined;
    let next = 0;
    const endAt = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < endAt) {
          const u = user(next++);
          const started = performance.now();
          try {
            await loginCycle(endpoint, u, standinPassword(u));
            times.push(performance.now() - started);
          } catch (error) {
            failed++;
            firstError ??= (error as Error).message;
          }
        }
      }),
    );
    clearTimeout(killer);

    const afterStarted = performance.now();
    const afterLogin = loginCycle(endpoint, user(0), standinPassword(user(0))).then(
      () => `OK in ${((performance.now() - afterStarted) / 1000).toFixed(1)} s`,
      (error: unknown) => `failed: ${(error as Error).message}`,
    );
    const after = await Promise.race([
      afterLogin,
      new Promise<string>((r) => setTimeout(() => r(`still waiting after ${AFTER_WAIT_MS / 1000} s`), AFTER_WAIT_MS)),
    ]);
    times.sort((a, b) => a - b);
    return {
      part,
      ok: times.length,
      failed,
      firstError,
      p99: percentile(times, 0.99),
      slowest: times.at(-1) ?? Number.NaN,
      after,
      fallbacks: await proxy.metric('postern_mail_throttle_fallbacks_total'),
      hedges: await proxy.metric('postern_mail_nats_hedges_total'),
    };
  } finally {
    await nats?.stop();
    await stopAll();
  }
}

function table(rows: readonly Row[]): string {
  const head = [
    'part killed',
    'logins/s over the run',
    'failed logins',
    'p99 login ms',
    'slowest login ms',
    'throttle fallbacks',
    'hedges',
    'a new login afterwards',
  ];
  const lines = rows.map((r) => [
    r.part,
    Math.round(r.ok / SECONDS).toLocaleString('en-US'),
    String(r.failed),
    r.p99.toFixed(0),
    r.slowest.toFixed(0),
    String(r.fallbacks),
    String(r.hedges),
    r.after,
  ]);
  const md = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const out = [md(head), md(head.map(() => '---')), ...lines.map(md)];
  for (const r of rows) if (r.firstError) out.push(`\n${r.part}: first failure: ${r.firstError}`);
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  process.stdout.write(
    `bench:faults — ${CLIENTS} clients, ${SECONDS} s per row, one part killed with SIGKILL at ${KILL_AT} s; every login limit on (${LIMITS_ON.zimbraReverseProxyUserLoginLimit}), fail open\n\n`,
  );
  const dir = await scratchDir('bench-faults');
  try {
    const rows: Row[] = [];
    for (const part of PARTS) rows.push(await drill(part, dir));
    process.stdout.write(table(rows));
  } finally {
    await removeDir(dir);
  }
}

process.once('SIGINT', () => {
  void stopAll().finally(() => process.exit(130));
});

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:faults failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
