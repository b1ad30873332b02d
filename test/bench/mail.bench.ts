/**
 * bench:mail — IMAP logins per second, p50/p99 login latency and a 10 MB FETCH through Postern's
 * mail-proxy, next to the mailbox server reached directly and to nginx's mail proxy, all measured in
 * the same run; then the memory of one mail-proxy process holding thousands of spliced sessions.
 *
 * 1. Real mailbox servers: two Dovecot instances with the demo accounts (test/harness/upstreams),
 *    the fixture directory rewritten to their ports in slapd. A login cycle is connect → greeting →
 *    `a LOGIN user pass` → tagged OK → `b LOGOUT` → tagged OK → close, with C in flight.
 * 2. The same against a minimal IMAP stand-in (support/imap-standin.ts) that does no login work of
 *    its own, so the proxies' own cost shows. Postern runs its whole path: the connect, pre-login
 *    and login-succeeded throttle checks (decided in the proxy against the counters in memcached,
 *    the default), the route from the shared memcached cache (route-lookup and slapd on a miss).
 *    Again with the checks asked of login-throttle over NATS (posternThrottleChecks: service), and
 *    with the throttle off (POSTERN_THROTTLE_ENABLED=false) for the throttle's cost per login. Each Postern row is one
 *    worker process (POSTERN_WORKERS=1) against nginx's one worker, and a last row runs two workers.
 *    Beside them, the platform's floor (support/floor-proxy.main.ts): a Node proxy that only relays
 *    (greeting, one LOGIN line, connect, LOGIN upstream, pipe), so that what Node itself costs per
 *    login and what Postern adds to it are measured in the same run; and the same floor doing the
 *    memcached round trips a proxy with shared throttle counters and a shared route cache must make
 *    (support/floor-shared-state.ts: as many as Postern's default throttle, on a minimal client), so
 *    that Postern's CPU reads against what its design requires as well as against the bare relay.
 * 2b. IMAPS (implicit TLS, port 993 style) against Dovecot: Dovecot reached directly on its IMAPS
 *    listener, Postern's IMAPS listener (TLS to the upstream as well, Postern's default for mail:
 *    zimbraReverseProxySSLToUpstreamEnabled), the same with plain IMAP to the upstream, and nginx's
 *    mail proxy with `ssl` on its listener (plain to Dovecot: nginx's mail module has no TLS
 *    upstream). The client resumes TLS sessions as Thunderbird does: the session (ticket) of the
 *    previous connection to a server is offered on the next one; how many connections resumed is
 *    printed beside the rows. Beside them, the Node floor over TLS (the same certificate, session
 *    tickets on) relaying to Dovecot's IMAPS listener with TLS session resumption, and to its plain
 *    one: whether 0.85× Dovecot direct is within any Node proxy's reach on this machine.
 * 3. RSS of one mail-proxy process holding N logged-in sessions spliced to the stand-in.
 *
 * Within parts 1, 2 and 2b the rows are measured in alternating slices (A B C, C B A, …), after
 * their warm-ups, each slice after a few unmeasured logins: the machine's drift, larger than the
 * ratios the targets read, falls on every row alike. The cold row (first logins) and the
 * two-worker row run on their own.
 *
 * nginx is Debian's, with ngx_mail_module, `worker_processes 1` (one event loop, like one
 * mail-proxy process). Its auth_http is a small HTTP service mapping each user to its Dovecot in
 * part 1 (as a deployment would), and nginx's own http module answering a fixed route in part 2 (so
 * its lookup costs next to nothing).
 *
 * Everything is real and on loopback, on ports from the kernel. Options: --logins N (default 5000
 * per row), --concurrency C (16), --warmup W (3000 logins per target before its row: after 500,
 * V8 was still optimizing Postern's code through the first slices), --users U (1000 stand-in
 * accounts), --sessions S (10000), --session-batch B (500 logins in flight while opening them),
 * --fetch-reps R (15), --log-level L (info, Postern's default: a line per login; nginx logs at warn),
 * --postern-node-args=A (Node flags for every Postern process, space-separated, given with `=` as
 * they begin with a dash: `"--postern-node-args=--cpu-prof --cpu-prof-dir=/tmp/p"` profiles each
 * mail-proxy under the bench's load; each mail-proxy's pid is printed as it starts; then
 * support/cpuprofile-summary.ts reads a profile),
 * --parts P (comma-separated, default all: `dovecot` part 1's logins, `standin` part 2's logins with
 * the floors and the cold row, `fetch` both FETCH tables, `imaps` part 2b, `workers` the two-worker
 * rows of dovecot and standin, `sessions` part 3; only the mail-proxies the parts use are started,
 * so `--parts standin` is the quick loop for the login path's CPU).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  directoryEnv,
  DEMO_PASSWORDS,
  directoryLdifFor,
  freePort,
  generateMessage,
  makeCertificate,
  nginxHttpTempPaths,
  nginxVersion,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMemcached,
  startNats,
  startNginx,
  startService,
  startSlapd,
  stopAll,
  sumSeries,
  waitFor,
  type NatsServer,
  type ServiceProcess,
} from '../harness';
import { standinDirectory } from './support/accounts';
import { tlsResumption, type BenchImapClient, type Endpoint, type TlsResumption } from './support/imap-client';
import { STANDIN_MESSAGE_USER, standinPassword, startImapStandin } from './support/imap-standin';
import {
  CLIENT_GROUP,
  cpuBetween,
  cpuSnapshot,
  descriptorLimit,
  emptyRun,
  loginCycle,
  loginFigures,
  measureLogins,
  median,
  openDescriptors,
  openSession,
  procStatusBytes,
  raiseDescriptorLimit,
  runLogins,
  timedFetch,
  type CpuProbe,
  type LoginFigures,
} from './support/load';
import { startTsChild } from './support/ts-child';

/** The bench's sections, for --parts (every one by default). */
const PART_NAMES = ['dovecot', 'standin', 'fetch', 'imaps', 'workers', 'sessions'] as const;
type Part = (typeof PART_NAMES)[number];

const { values } = parseArgs({
  options: {
    logins: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '3000' },
    users: { type: 'string', default: '1000' },
    sessions: { type: 'string', default: '10000' },
    'session-batch': { type: 'string', default: '500' },
    'fetch-reps': { type: 'string', default: '15' },
    'log-level': { type: 'string', default: 'info' },
    'postern-node-args': { type: 'string', default: '' },
    parts: { type: 'string', default: PART_NAMES.join(',') },
  },
});
const LOGINS = Number(values.logins);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const USERS = Number(values.users);
const SESSIONS = Number(values.sessions);
const SESSION_BATCH = Number(values['session-batch']);
const FETCH_REPS = Number(values['fetch-reps']);
const LOG_LEVEL = values['log-level'];
const POSTERN_NODE_ARGS = values['postern-node-args'].split(' ').filter((arg) => arg !== '');
const PARTS = new Set(
  values.parts
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);
for (const part of PARTS) {
  if (!(PART_NAMES as readonly string[]).includes(part)) throw new Error(`--parts: unknown part "${part}" (known: ${PART_NAMES.join(', ')})`);
}
const wants = (part: Part) => PARTS.has(part);

const MB = 1024 * 1024;
const MESSAGE_BYTES = 10 * MB;
/** The stand-in's address: a loopback address no fixture server uses (mbox1/mbox2 are .2/.3). */
const STANDIN_HOST = '127.0.0.4';
/** Active accounts the fixture routes to the local Dovecot servers (erin and henry have external routes, frank and grace are closed/locked). */
const DOVECOT_USERS = ['alice@example.com', 'bob@example.com', 'carol@example.org'] as const;
/** Throttle limits on (so every login is counted) but too high to deny anything here. */
const NEVER = 1_000_000_000;
/** Every throttle limit on but never reached: each check does its full work and allows. */
const THROTTLE_LIMITS = {
  zimbraReverseProxyIPLoginImapLimit: NEVER,
  zimbraReverseProxyUserLoginLimit: NEVER,
  posternFailedLoginUserLimit: NEVER,
  posternFailedLoginIpLimit: NEVER,
};
/** Descriptors kept free in the proxy beyond its idle count when sizing the session test. */
const FD_MARGIN = 64;

const benchUser = (i: number) => `bench${i % USERS}@example.com`;

/** A server entry for the stand-in and U accounts on it, below the fixture's example.com. */

interface Proxy {
  readonly service: ServiceProcess;
  readonly endpoint: Endpoint;
}

/** The Postern phases a login spends time in, as means (ms) over a pass, from the proxy's histograms. */
interface Phases {
  readonly logins: number;
  readonly cacheHits: number;
  readonly lookup: number;
  readonly upstreamConnect: number;
  readonly upstreamLogin: number;
}

async function metricsText(service: ServiceProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
}

/** What changed in the proxy's own histograms between two /metrics snapshots. */
function phasesBetween(before: string, after: string): Phases {
  const delta = (name: string, labels: Record<string, string> = {}) => sumSeries(after, name, labels) - sumSeries(before, name, labels);
  const mean = (histogram: string) => (1000 * delta(`${histogram}_sum`)) / Math.max(1, delta(`${histogram}_count`));
  return {
    logins: delta('postern_mail_logins_total', { outcome: 'ok' }),
    cacheHits: delta('postern_mail_route_lookup_seconds_count', { source: 'cache' }),
    lookup: mean('postern_mail_route_lookup_seconds'),
    upstreamConnect: mean('postern_mail_upstream_connect_seconds'),
    upstreamLogin: mean('postern_mail_upstream_login_seconds'),
  };
}

interface Target {
  readonly name: string;
  /** Where user `i` connects. */
  readonly endpoint: (i: number) => Endpoint;
  /** Set for Postern rows: its phases are read from /metrics around the measured pass. */
  readonly postern?: Proxy;
}

interface Row extends LoginFigures {
  readonly phases?: Phases;
  /** CPU ms per successful login, by group of processes, over the measured pass. */
  readonly cpu: ReadonlyMap<string, number>;
}

/** The groups CPU time is reported in, in table order ({@link CLIENT_GROUP} is the load generator). */
const CPU_GROUPS = [
  'mail-proxy',
  'floor',
  'nginx',
  'auth_http',
  'login-throttle',
  'route-lookup',
  'nats-server',
  'memcached',
  'mailbox',
  CLIENT_GROUP,
] as const;
/** Column headings of {@link CPU_GROUPS}. */
const CPU_LABELS: Readonly<Record<(typeof CPU_GROUPS)[number], string>> = {
  'mail-proxy': 'mail-proxy',
  floor: 'floor',
  nginx: 'nginx',
  auth_http: 'auth_http',
  'login-throttle': 'throttle',
  'route-lookup': 'lookup+ldap',
  'nats-server': 'nats',
  memcached: 'memcached',
  mailbox: 'mailbox',
  [CLIENT_GROUP]: 'client',
};

/** Measures `count` logins with `op`, reading the proxy's histograms (for Postern) and every process's CPU around the pass. */
async function measuredPass(
  name: string,
  count: number,
  op: (i: number) => ReturnType<typeof loginCycle>,
  probes: readonly CpuProbe[],
  postern?: Proxy,
): Promise<Row> {
  const metricsBefore = postern ? await metricsText(postern.service) : '';
  const cpuBefore = await cpuSnapshot(probes);
  const figures = await measureLogins(name, count, CONCURRENCY, op);
  const cpu = cpuBetween(cpuBefore, await cpuSnapshot(probes), count - figures.errors);
  if (!postern) return { ...figures, cpu };
  return { ...figures, cpu, phases: phasesBetween(metricsBefore, await metricsText(postern.service)) };
}

/** Warm-up pass (not reported), then the measured pass. */
async function loginRow(target: Target, user: (i: number) => string, password: (user: string) => string, probes: readonly CpuProbe[]): Promise<Row> {
  const op = (i: number) => loginCycle(target.endpoint(i), user(i), password(user(i)));
  progress(`  ${target.name}: ${WARMUP} warm-up logins, then ${LOGINS}`);
  await measureLogins('warm-up', WARMUP, CONCURRENCY, (i) => op(i + LOGINS));
  return measuredPass(target.name, LOGINS, op, probes, target.postern);
}

/** Slices of {@link alternatingRows}. */
const SLICES = 5;
/** Unmeasured logins before each slice. */
const SLICE_SETTLE_LOGINS = 200;

/**
 * Rows measured in alternating slices of LOGINS / SLICES logins (A B C, C B A, A B C, …) after a
 * warm-up of each, every slice after SLICE_SETTLE_LOGINS unmeasured ones, every figure summed over
 * a row's slices. On a shared machine the speed drifts by more than the differences the targets
 * read (Postern against the floors and nginx, the throttle's cost) from one row to the next;
 * alternating lays the drift on every row alike.
 */
async function alternatingRows(
  targets: readonly Target[],
  user: (i: number) => string,
  password: (user: string) => string,
  probes: readonly CpuProbe[],
): Promise<Row[]> {
  const opOf = (target: Target) => (i: number) => loginCycle(target.endpoint(i), user(i), password(user(i)));
  for (const target of targets) {
    progress(`  ${target.name}: ${WARMUP} warm-up logins`);
    await measureLogins('warm-up', WARMUP, CONCURRENCY, (i) => opOf(target)(i + LOGINS));
  }
  const slice = Math.ceil(LOGINS / SLICES);
  progress(`  ${targets.map((target) => target.name).join(', ')}: ${slice * SLICES} logins each, in ${SLICES} alternating slices`);
  const sides = await Promise.all(
    targets.map(async (target) => ({
      target,
      run: emptyRun(),
      cpu: new Map<string, number>(),
      metricsBefore: target.postern ? await metricsText(target.postern.service) : '',
    })),
  );
  for (let k = 0; k < SLICES; k++) {
    for (const side of k % 2 === 0 ? sides : [...sides].reverse()) {
      // Some logins first, not measured: a row resumes from the others' slices, and what a process
      // does after idling (V8's memory reducer collects, caches are cold) is no steady state.
      await measureLogins('settle', SLICE_SETTLE_LOGINS, CONCURRENCY, (i) => opOf(side.target)(i + 2 * LOGINS));
      const before = await cpuSnapshot(probes);
      const first = side.run.count;
      await runLogins(slice, CONCURRENCY, (i) => opOf(side.target)(first + i), side.run);
      for (const [group, ms] of cpuBetween(before, await cpuSnapshot(probes), 1)) side.cpu.set(group, (side.cpu.get(group) ?? 0) + ms);
    }
  }
  return Promise.all(
    sides.map(async ({ target, run, cpu, metricsBefore }): Promise<Row> => {
      const logins = Math.max(1, run.count - run.errors);
      const row = { ...loginFigures(target.name, run), cpu: new Map([...cpu].map(([group, ms]) => [group, ms / logins])) };
      return target.postern ? { ...row, phases: phasesBetween(metricsBefore, await metricsText(target.postern.service)) } : row;
    }),
  );
}

interface FetchRow {
  readonly name: string;
  readonly ms: number;
  readonly mbPerSecond: number;
  readonly mismatches: number;
}

/** FETCH the big message `reps` times through every endpoint, interleaved (noise hits all alike), checking every byte. */
async function fetchRows(targets: readonly { name: string; endpoint: Endpoint }[], user: string, password: string, expected: Buffer): Promise<FetchRow[]> {
  const times = targets.map(() => [] as number[]);
  const mismatches = targets.map(() => 0);
  // One untimed FETCH each first: the file in the page cache, the code paths compiled.
  for (const t of targets) await timedFetch(t.endpoint, user, password);
  for (let rep = 0; rep < FETCH_REPS; rep++) {
    for (const [k, t] of targets.entries()) {
      const { ms, body } = await timedFetch(t.endpoint, user, password);
      times[k]!.push(ms);
      if (!body.equals(expected)) mismatches[k]!++;
    }
  }
  return targets.map((t, k) => {
    const ms = median(times[k]!);
    return { name: t.name, ms, mbPerSecond: expected.length / MB / (ms / 1000), mismatches: mismatches[k]! };
  });
}

interface SessionFigures {
  readonly asked: number;
  readonly held: number;
  /** Why fewer than asked were opened (descriptor limits), if so. */
  readonly bound: string | undefined;
  readonly idleFds: number;
  readonly fdsHeld: number;
  readonly openSeconds: number;
  readonly failures: number;
  readonly firstFailure: string | undefined;
  readonly rssFresh: number;
  readonly rssIdle: number;
  /** Right after the sessions were opened (and answered a NOOP each). */
  readonly rssOpened: number;
  /** At rest: once V8 has collected the logins' garbage (see {@link sessionMemory}). */
  readonly rssHeld: number;
  readonly settleSeconds: number;
  /** False when no major collection came within the wait: then rssHeld still holds garbage. */
  readonly collectedAtRest: boolean;
  readonly hwm: number;
  readonly rssAfter: number;
  /** V8 heap in use (from the proxy's own process metrics) at idle and with the sessions held. */
  readonly heapIdle: number;
  readonly heapHeld: number;
}

/**
 * How many sessions the descriptor limits allow: the proxy needs two per session (client and
 * upstream sockets), this process and the stand-in one each. A limit that is short is raised when
 * the kernel lets us (prlimit, CAP_SYS_RESOURCE); otherwise the count is cut to what fits.
 */
async function sessionsThatFit(asked: number, proxyPid: number, standinPid: number): Promise<{ count: number; bound: string | undefined }> {
  const holders = [
    { name: 'the mail-proxy', pid: proxyPid, perSession: 2 },
    { name: 'the load generator', pid: process.pid, perSession: 1 },
    { name: 'the stand-in', pid: standinPid, perSession: 1 },
  ];
  let count = asked;
  const reasons: string[] = [];
  for (const holder of holders) {
    const open = await openDescriptors(holder.pid);
    const needed = open + FD_MARGIN + holder.perSession * asked;
    let limit = await descriptorLimit(holder.pid);
    if (limit < needed) {
      const refused = await raiseDescriptorLimit(holder.pid, needed);
      limit = await descriptorLimit(holder.pid);
      const fit = Math.floor((limit - open - FD_MARGIN) / holder.perSession);
      if (fit < asked) {
        count = Math.min(count, Math.floor(fit / 100) * 100);
        reasons.push(
          `${holder.name} needs ${holder.perSession} descriptor(s) per session; its open-files limit is ${limit} with ${open} open at idle, so ${fit} fit ` +
            `(raising the limit to ${needed} failed: ${refused ?? 'no change'})`,
        );
      }
    }
  }
  return { count, bound: reasons.length > 0 ? reasons.join('; ') : undefined };
}

/** Opens `SESSIONS` (or as many as the descriptor limits allow) logged-in sessions and reads the proxy's RSS. */
async function sessionMemory(proxy: Proxy, standinPid: number): Promise<SessionFigures> {
  const pid = proxy.service.process.pid;
  const heap = async () => proxy.service.metric('postern_nodejs_heap_size_used_bytes');
  const rssFresh = await procStatusBytes(pid, 'VmRSS');
  progress(`  ${WARMUP} warm-up logins on a fresh mail-proxy`);
  await measureLogins('warm-up', WARMUP, CONCURRENCY, (i) => loginCycle(proxy.endpoint, benchUser(i), standinPassword(benchUser(i))));
  const rssIdle = await procStatusBytes(pid, 'VmRSS');
  const heapIdle = await heap();
  const idleFds = await openDescriptors(pid);
  const { count: target, bound } = await sessionsThatFit(SESSIONS, pid, standinPid);
  progress(`  opening ${target} sessions, ${SESSION_BATCH} logins in flight${bound ? ` (fewer than ${SESSIONS}: ${bound})` : ''}`);

  const held: BenchImapClient[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  while (held.length < target && failures === 0) {
    const batch = Math.min(SESSION_BATCH, target - held.length);
    const offset = held.length;
    const results = await Promise.allSettled(
      Array.from({ length: batch }, (_, k) => openSession(proxy.endpoint, benchUser(offset + k), standinPassword(benchUser(offset + k)))),
    );
    for (const r of results) {
      if (r.status === 'fulfilled') held.push(r.value);
      else {
        failures++;
        firstFailure ??= (r.reason as Error).message;
      }
    }
  }
  const openSeconds = (performance.now() - started) / 1000;
  // Every session answers a NOOP (from the stand-in, through the splice), and the proxy counts them spliced.
  for (let k = 0; k < held.length; k += SESSION_BATCH) {
    await Promise.all(held.slice(k, k + SESSION_BATCH).map((c) => c.command('n', 'NOOP', performance.now() + 30_000)));
  }
  await waitFor(
    `${held.length} spliced sessions in the proxy's gauge`,
    async () => (await proxy.service.metric('postern_mail_sessions', { state: 'proxied' })) === held.length,
  );
  // Held sessions are read at rest, as an operator's would be minutes later. The logins' garbage
  // goes when V8's memory reducer notices the process is quiet: some 10–40 s on, one to three
  // major collections about 10 s apart. So RSS is read every 2 s until a major collection has run
  // since the sessions went quiet and none has followed for 20 s, with RSS steady meanwhile (or 150 s).
  const majorGcs = () => proxy.service.metric('postern_nodejs_gc_duration_seconds_count', { kind: 'major' });
  const rssOpened = await procStatusBytes(pid, 'VmRSS');
  const settleStarted = performance.now();
  const gcsAtQuiet = await majorGcs();
  let rssHeld = rssOpened;
  let lastChange = performance.now();
  let gcs = gcsAtQuiet;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const [rss, gcsNow] = await Promise.all([procStatusBytes(pid, 'VmRSS'), majorGcs()]);
    if (gcsNow !== gcs || Math.abs(rss - rssHeld) > rssHeld / 100) lastChange = performance.now();
    [rssHeld, gcs] = [rss, gcsNow];
    if (gcs > gcsAtQuiet && performance.now() - lastChange >= 20_000) break;
    if (performance.now() - settleStarted >= 150_000) break;
  }
  const settleSeconds = (performance.now() - settleStarted) / 1000;
  const collectedAtRest = gcs > gcsAtQuiet;
  const heapHeld = await heap();
  const hwm = await procStatusBytes(pid, 'VmHWM');
  const fdsHeld = await openDescriptors(pid);
  for (const c of held) c.close();
  await waitFor('the spliced sessions to end', async () => (await proxy.service.metric('postern_mail_sessions', { state: 'proxied' })) === 0, {
    timeoutMs: 60_000,
  });
  const rssAfter = await procStatusBytes(pid, 'VmRSS');
  return {
    asked: SESSIONS,
    held: held.length,
    bound,
    idleFds,
    fdsHeld,
    openSeconds,
    failures,
    firstFailure,
    rssFresh,
    rssIdle,
    rssOpened,
    rssHeld,
    settleSeconds,
    collectedAtRest,
    hwm,
    rssAfter,
    heapIdle,
    heapHeld,
  };
}

// --- output ----------------------------------------------------------------------------------

function progress(text: string): void {
  process.stdout.write(`· ${text}\n`);
}

const pad = (s: string, n: number) => s.padEnd(n);
/** Width of the first column of every table. */
const NAME = 37;
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '—');
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const signed = (n: number) => `${n >= 0 ? '+' : ''}${fmt(n)}`;

function loginTable(title: string, rows: readonly Row[], direct: Row, nginx: Row): string {
  const out = [
    `\n${title}\n`,
    `${pad('what', NAME)}${pad('logins/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('greet p50', 11)}${pad('LOGIN p50', 11)}${pad('errors', 8)}${pad('rate vs direct', 16)}${pad('rate vs nginx', 15)}p99 vs nginx\n`,
  ];
  for (const r of rows) {
    out.push(
      `${pad(r.name, NAME)}${pad(fmt(r.rate, 0), 10)}${pad(fmt(r.p50), 9)}${pad(fmt(r.p99), 9)}${pad(fmt(r.max), 9)}${pad(fmt(r.greetingP50), 11)}${pad(fmt(r.loginP50), 11)}${pad(String(r.errors), 8)}` +
        `${pad(ratio(r.rate, direct.rate), 16)}${pad(ratio(r.rate, nginx.rate), 15)}${ratio(r.p99, nginx.p99)}\n`,
    );
  }
  for (const r of rows) if (r.firstError) out.push(`  ${r.name}: ${r.errors} failed, first: ${r.firstError}\n`);
  return out.join('');
}

/** The row for the throttle's cost: the same proxy path with and without it, in the same run. */
function throttleCostLine(how: string, on: Row, off: Row): string {
  const cpu = (r: Row, groups: readonly string[]) => groups.reduce((sum, g) => sum + (r.cpu.get(g) ?? 0), 0);
  const part = (g: string) => `${g} ${signed(cpu(on, [g]) - cpu(off, [g]))}`;
  return (
    `${pad(`throttle ${how}: cost per login`, NAME)}p50 ${signed(on.p50 - off.p50)} ms, p99 ${signed(on.p99 - off.p99)} ms, greeting p50 ${signed(on.greetingP50 - off.greetingP50)} ms, ` +
    `LOGIN p50 ${signed(on.loginP50 - off.loginP50)} ms; rate ${ratio(on.rate, off.rate)}; CPU ${signed(cpu(on, CPU_GROUPS) - cpu(off, CPU_GROUPS))} ms ` +
    `(${['mail-proxy', 'login-throttle', 'nats-server', 'memcached'].map(part).join(', ')})\n`
  );
}

function cpuTable(title: string, rows: readonly Row[]): string {
  const width = 12;
  const out = [`\n${title}\n`, `${pad('what', NAME)}${CPU_GROUPS.map((g) => pad(CPU_LABELS[g], width)).join('')}${pad('total', 9)}cores busy\n`];
  for (const r of rows) {
    const total = CPU_GROUPS.reduce((sum, g) => sum + (r.cpu.get(g) ?? 0), 0);
    const busy = (total * (r.count - r.errors)) / (r.seconds * 1000);
    out.push(`${pad(r.name, NAME)}${CPU_GROUPS.map((g) => pad(fmt(r.cpu.get(g) ?? 0), width)).join('')}${pad(fmt(total), 9)}${fmt(busy, 2)}\n`);
  }
  return out.join('');
}

/** How many of each row's client connections resumed a TLS session (warm-up included). */
function resumptionLines(rows: readonly (readonly [string, readonly TlsResumption[]])[]): string {
  return rows
    .map(([name, memories]) => {
      const resumed = memories.reduce((sum, m) => sum + m.resumed, 0);
      const all = resumed + memories.reduce((sum, m) => sum + m.full, 0);
      return `${pad(name, NAME)}TLS: ${resumed} of ${all} connections resumed a session\n`;
    })
    .join('');
}

function phaseTable(rows: readonly (readonly [string, Row])[]): string {
  const out = [
    `\nWhere a Postern login's time goes (means over the measured pass, from the proxy's own histograms; "rest" = the client-seen mean cycle minus the three)\n`,
    `${pad('row', NAME)}${pad('cache hits', 14)}${pad('route ms', 10)}${pad('upstream connect+greeting ms', 30)}${pad('upstream ID+LOGIN ms', 22)}${pad('cycle mean ms', 15)}rest ms (throttle, greeting, LOGOUT, waiting for the event loop)\n`,
  ];
  for (const [label, r] of rows) {
    const p = r.phases;
    if (!p) continue;
    const rest = r.mean - p.lookup - p.upstreamConnect - p.upstreamLogin;
    out.push(
      `${pad(label, NAME)}${pad(`${p.cacheHits}/${p.logins}`, 14)}${pad(fmt(p.lookup), 10)}${pad(fmt(p.upstreamConnect), 30)}${pad(fmt(p.upstreamLogin), 22)}${pad(fmt(r.mean), 15)}${fmt(rest)}\n`,
    );
  }
  return out.join('');
}

function fetchTable(title: string, rows: readonly FetchRow[]): string {
  const direct = rows[0]!;
  const out = [`\n${title}\n`, `${pad('what', NAME)}${pad('median ms', 11)}${pad('MB/s', 9)}${pad('bytes equal', 13)}time vs direct\n`];
  for (const r of rows)
    out.push(
      `${pad(r.name, NAME)}${pad(fmt(r.ms, 1), 11)}${pad(fmt(r.mbPerSecond, 0), 9)}${pad(r.mismatches === 0 ? `${FETCH_REPS}/${FETCH_REPS}` : `${FETCH_REPS - r.mismatches}/${FETCH_REPS}`, 13)}${ratio(r.ms, direct.ms)}\n`,
    );
  return out.join('');
}

/**
 * Bytes per held session of a growth (RSS or heap, held − idle), or undefined when too few sessions
 * were held for them to show above the process's own drift (the growth is not positive).
 */
function bytesEach(held: number, idle: number, sessions: number): number | undefined {
  return sessions > 0 && held > idle ? (held - idle) / sessions : undefined;
}

const sessionBytesEach = (s: SessionFigures) => bytesEach(s.rssHeld, s.rssIdle, s.held);

function sessionTable(s: SessionFigures): string {
  const perSession = sessionBytesEach(s);
  const heapEach = bytesEach(s.heapHeld, s.heapIdle, s.held);
  const kb = (bytes: number | undefined) => (bytes === undefined ? 'too few sessions to tell' : `${(bytes / 1024).toFixed(1)} KB`);
  const lines = [
    `\nOne mail-proxy process holding spliced IMAP sessions to the stand-in (RSS = VmRSS from /proc; V8 heap from the proxy's metrics)\n`,
    `${pad('RSS after start', 46)}${mb(s.rssFresh)}\n`,
    `${pad(`RSS idle (after ${WARMUP} warm-up logins)`, 46)}${mb(s.rssIdle)}   (V8 heap in use ${mb(s.heapIdle)}; ${s.idleFds} descriptors open)\n`,
    `${pad(`RSS with ${s.held} spliced sessions, just opened`, 46)}${mb(s.rssOpened)}   (peak while opening, VmHWM ${mb(s.hwm)})\n`,
    `${pad(`RSS with ${s.held} spliced sessions, at rest`, 46)}${mb(s.rssHeld)}   (V8 heap in use ${mb(s.heapHeld)}; ${s.fdsHeld} descriptors open; read ${fmt(s.settleSeconds, 0)} s later)\n`,
    `${pad('per session (RSS held − RSS idle) / sessions', 46)}${kb(perSession)}   (V8 heap ${kb(heapEach)})\n`,
    `${pad('RSS after those sessions closed', 46)}${mb(s.rssAfter)}\n`,
    `${pad('time to open them (a login each)', 46)}${fmt(s.openSeconds, 1)} s (${fmt(s.held / s.openSeconds, 0)} logins/s with ${SESSION_BATCH} in flight)\n`,
  ];
  if (s.failures > 0) lines.push(`  ${s.failures} session(s) failed to open; first: ${s.firstFailure}\n`);
  if (s.held < s.asked) {
    lines.push(
      `  ${s.asked} sessions were NOT reachable here, ${s.held} were held instead: ${s.bound ?? 'see the failures above'}.\n` +
        (perSession === undefined
          ? `  Not extrapolated to ${s.asked}: too few sessions to tell the memory per session.\n`
          : `  Extrapolated to ${s.asked}: ${mb(s.rssIdle + perSession * s.asked)} (RSS idle + ${s.asked} × per session).\n`),
    );
  }
  lines.push(
    s.collectedAtRest
      ? "  At rest: read once V8's memory reducer had collected the logins' garbage (a major collection since the sessions went quiet, then 20 s without one).\n"
      : `  At rest: V8 ran no major collection within ${fmt(s.settleSeconds, 0)} s, so this still holds the logins' garbage and per session is overstated.\n`,
  );
  return lines.join('');
}

// --- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.stdout.write(
    `bench:mail — ${LOGINS} login cycles per row after ${WARMUP} warm-up, ${CONCURRENCY} in flight; ${USERS} stand-in accounts; ` +
      `${SESSIONS} held sessions; FETCH of ${MESSAGE_BYTES / MB} MB × ${FETCH_REPS}\n`,
  );
  const dir = await scratchDir('bench-mail');
  // stopAll() stops the process only; NatsServer.stop() also removes its scratch directory.
  let nats: NatsServer | undefined;
  try {
    progress('starting two Dovecot mailbox servers, the IMAP stand-in, nats-server, memcached');
    const [upstreams, standin, natsServer, memcached] = await Promise.all([
      // With IMAPS listeners (part 2b); the plain ones take LOGIN in cleartext as before.
      startMailboxServers({ tls: true, messages: [{ user: 'alice@example.com', count: 1, sizeBytes: MESSAGE_BYTES }] }),
      startImapStandin({ host: STANDIN_HOST, messageBytes: MESSAGE_BYTES }),
      startNats({ jetstream: false }),
      startMemcached(),
    ]);
    nats = natsServer;
    progress(`starting slapd (fixture with the Dovecot ports, plus ${USERS} accounts on the stand-in), route-lookup, login-throttle`);
    const slapd = await startSlapd({ fixture: directoryLdifFor(upstreams), ldif: standinDirectory(STANDIN_HOST, standin.port, USERS) });
    const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_LOG_LEVEL: LOG_LEVEL };
    const throttleConfig = join(dir, 'login-throttle.json');
    writeFileSync(throttleConfig, JSON.stringify({ attributes: THROTTLE_LIMITS }));
    const [lookup, throttle] = await Promise.all([
      startService('route-lookup', {
        ...common,
        ...directoryEnv(slapd),
      }),
      startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleConfig }),
    ]);

    const startProxy = async (name: string, env: Record<string, string> = {}, attributes: Record<string, unknown> = {}): Promise<Proxy> => {
      const port = await freePort();
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          attributes: {
            zimbraImapProxyBindPort: port,
            zimbraReverseProxyMailPop3Enabled: false,
            zimbraReverseProxySSLToUpstreamEnabled: false,
            zimbraReverseProxyImapStartTlsMode: 'off',
            zimbraReverseProxyMailMode: 'http',
            zimbraReverseProxyAuthWaitInterval: '100ms',
            // The same limits as the throttle service: with every limit off the proxy would not
            // ask it at all, and the "throttle on" rows would measure nothing.
            ...THROTTLE_LIMITS,
            ...attributes,
          },
        }),
      );
      const service = await startService(
        'mail-proxy',
        { ...common, ...env, POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' },
        { nodeArgs: POSTERN_NODE_ARGS },
      );
      return { service, endpoint: { host: '127.0.0.1', port } };
    };
    // Mail-proxies start when a part first needs one (see startParts below); their CPU is probed from then on.
    const probes: CpuProbe[] = [];
    const started = new Map<string, Promise<Proxy>>();
    const proxyOnce =
      (name: string, env: Record<string, string>, attributes: Record<string, unknown>, tree = false) =>
      (): Promise<Proxy> => {
        let proxy = started.get(name);
        if (!proxy) {
          proxy = startProxy(name, env, attributes).then((p) => {
            probes.push({ group: 'mail-proxy', pid: p.service.process.pid, tree });
            progress(`  ${name}: mail-proxy pid ${p.service.process.pid}`);
            return p;
          });
          started.set(name, proxy);
        }
        return proxy;
      };
    const local = { posternThrottleChecks: 'local' };
    const posternOf = proxyOnce('postern', {}, { posternThrottleChecks: 'service' });
    const posternLocalOf = proxyOnce('postern-local-throttle', {}, local);
    const posternNoThrottleOf = proxyOnce('postern-no-throttle', { POSTERN_THROTTLE_ENABLED: 'false' }, {});
    const postern2Of = proxyOnce('postern-2-workers', { POSTERN_WORKERS: '2' }, local, true);
    // Part 2b: Postern's IMAPS listener with its defaults for mail (TLS to the upstream, the throttle
    // local), and again with plain IMAP to the upstream as nginx's; one certificate (EC P-256, as
    // Dovecot's) for Postern and nginx alike.
    const frontCertificate = await makeCertificate({ commonName: 'postern.test', altNames: ['postern.test', 'localhost', '127.0.0.1'] });
    const imapsProxy = async (name: string, tlsUpstream: boolean) => {
      const imapsPort = await freePort();
      const proxy = await startProxy(
        name,
        {
          POSTERN_TLS_CERT_FILE: frontCertificate.certFile,
          POSTERN_TLS_KEY_FILE: frontCertificate.keyFile,
          POSTERN_UPSTREAM_CA_FILE: upstreams.certificate!.caFile,
        },
        {
          ...local,
          zimbraImapSSLProxyBindPort: imapsPort,
          zimbraReverseProxyMailImapsEnabled: true,
          // With a certificate POP3S would open too, on its fixed default port.
          zimbraReverseProxyMailPop3sEnabled: false,
          zimbraReverseProxySSLToUpstreamEnabled: tlsUpstream,
          // The web proxy's mode that goes with TLS to the upstream (both: the default).
          ...(tlsUpstream ? { zimbraReverseProxyMailMode: 'both' } : {}),
        },
      );
      probes.push({ group: 'mail-proxy', pid: proxy.service.process.pid });
      progress(`  ${name}: mail-proxy pid ${proxy.service.process.pid}`);
      return { ...proxy, imapsPort };
    };
    const posternImapsOf = () => imapsProxy('postern-imaps', true);
    const posternImapsPlainOf = () => imapsProxy('postern-imaps-plain-upstream', false);

    const dovecotOf = (user: string): Endpoint => {
      const server = upstreams.serverOf(user);
      return { host: server.host, port: server.imapPort };
    };
    const auth = await startTsChild('nginx-auth', join(__dirname, 'support', 'nginx-auth.main.ts'), [
      '--routes',
      JSON.stringify(Object.fromEntries(DOVECOT_USERS.map((u) => [u, `${dovecotOf(u).host}:${dovecotOf(u).port}`]))),
    ]);
    const [nginxDovecotPort, nginxStandinPort, nginxAuthPort, nginxImapsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const mailServer = (port: number, authHttp: string, ssl = '') =>
      `  server {\n    listen 127.0.0.1:${port}${ssl ? ' ssl' : ''};\n    protocol imap;\n    imap_auth login plain;\n    starttls off;\n    auth_http ${authHttp};\n${ssl}  }`;
    const nginx = await startNginx({
      name: 'mail',
      modules: ['ngx_mail_module.so'],
      workerProcesses: 1,
      listeners: [nginxDovecotPort, nginxStandinPort, nginxAuthPort, nginxImapsPort].map((port) => ({ host: '127.0.0.1', port })),
      config: (nginxDir) =>
        [
          // nginx's defaults otherwise (proxy_buffer: one page, as shipped).
          'mail {',
          '  proxy on;',
          mailServer(nginxDovecotPort, `127.0.0.1:${auth.port}/auth`),
          mailServer(nginxStandinPort, `127.0.0.1:${nginxAuthPort}/auth`),
          // IMAPS: nginx's TLS defaults otherwise (session tickets on, no session cache, curves auto).
          mailServer(
            nginxImapsPort,
            `127.0.0.1:${auth.port}/auth`,
            `    ssl_certificate ${frontCertificate.certFile};\n    ssl_certificate_key ${frontCertificate.keyFile};\n`,
          ),
          '}',
          'http {',
          '  access_log off;',
          nginxHttpTempPaths(nginxDir),
          '  server {',
          `    listen 127.0.0.1:${nginxAuthPort};`,
          '    location = /auth {',
          '      add_header Auth-Status OK;',
          `      add_header Auth-Server ${STANDIN_HOST};`,
          `      add_header Auth-Port ${standin.port};`,
          '      return 204;',
          '    }',
          '  }',
          '}',
        ].join('\n'),
    });
    const floorScript = join(__dirname, 'support', 'floor-proxy.main.ts');
    const dovecotRoutes = (port: 'imapPort' | 'imapsPort') =>
      JSON.stringify(Object.fromEntries(DOVECOT_USERS.map((u) => [u, `${upstreams.serverOf(u).host}:${upstreams.serverOf(u)[port]!}`])));
    const floorTls = ['--tls-cert', frontCertificate.certFile, '--tls-key', frontCertificate.keyFile];
    const [floor, floorShared, floorImaps, floorImapsPlain] = await Promise.all([
      startTsChild('floor-proxy', floorScript, ['--upstream', `${STANDIN_HOST}:${standin.port}`]),
      startTsChild('floor-proxy-shared-state', floorScript, ['--upstream', `${STANDIN_HOST}:${standin.port}`, '--memcached', memcached.address]),
      startTsChild('floor-proxy-imaps', floorScript, [
        ...floorTls,
        '--routes',
        dovecotRoutes('imapsPort'),
        '--upstream-tls',
        '--upstream-ca',
        upstreams.certificate!.caFile,
      ]),
      startTsChild('floor-proxy-imaps-plain-upstream', floorScript, [...floorTls, '--routes', dovecotRoutes('imapPort')]),
    ]);
    // CPU per login, whichever process spends it (all share the 2 cores): read from /proc around every measured pass.
    probes.push(
      { group: 'nginx', pid: nginx.process.pid, tree: true },
      ...[floor, floorShared, floorImaps, floorImapsPlain].map((f) => ({ group: 'floor', pid: f.process.pid })),
      { group: 'auth_http', pid: auth.process.pid },
      { group: 'login-throttle', pid: throttle.process.pid },
      { group: 'route-lookup', pid: lookup.process.pid },
      { group: 'route-lookup', pid: slapd.process.pid },
      { group: 'nats-server', pid: nats.process.pid },
      { group: 'memcached', pid: memcached.process.pid },
      ...upstreams.servers.map((server) => ({ group: 'mailbox', pid: server.process.pid, tree: true })),
      { group: 'mailbox', pid: standin.process.pid },
    );
    // The mail-proxies the chosen parts use, started side by side.
    const loginParts = wants('dovecot') || wants('standin');
    await Promise.all([
      ...(loginParts || wants('fetch') ? [posternOf()] : []),
      ...(loginParts ? [posternLocalOf(), posternNoThrottleOf()] : []),
      ...(loginParts && wants('workers') ? [postern2Of()] : []),
    ]);
    const [posternImaps, posternImapsPlain] = wants('imaps') ? await Promise.all([posternImapsOf(), posternImapsPlainOf()]) : [undefined, undefined];
    const at = (endpoint: Endpoint) => () => endpoint;
    const nginxDovecot: Endpoint = { host: '127.0.0.1', port: nginxDovecotPort };
    const nginxStandin: Endpoint = { host: '127.0.0.1', port: nginxStandinPort };

    // The throttle's cost is the difference between these two rows (measured with the others, alternating).
    const throttleTargets = async (): Promise<Target[]> => {
      const [posternLocal, posternNoThrottle] = await Promise.all([posternLocalOf(), posternNoThrottleOf()]);
      return [
        { name: 'Postern (throttle local)', endpoint: at(posternLocal.endpoint), postern: posternLocal },
        { name: 'Postern (throttle off)', endpoint: at(posternNoThrottle.endpoint), postern: posternNoThrottle },
      ];
    };
    /** The two-worker row, when the workers part runs. */
    const workersRow = async (user: (i: number) => string, password: (user: string) => string): Promise<Row | undefined> => {
      if (!wants('workers')) return undefined;
      const postern2 = await postern2Of();
      return loginRow({ name: 'Postern, 2 workers (throttle local)', endpoint: at(postern2.endpoint), postern: postern2 }, user, password, probes);
    };
    const dovecotUser = (i: number) => DOVECOT_USERS[i % DOVECOT_USERS.length]!;
    const dovecotPassword = (user: string) => DEMO_PASSWORDS[user]!;
    const alice = 'alice@example.com';
    const standinEndpoint: Endpoint = { host: STANDIN_HOST, port: standin.port };
    const password = (user: string) => standinPassword(user);

    // --- 1. real Dovecot upstreams ---
    let d: { direct: Row; postern: Row; posternLocal: Row; posternOff: Row; nginx: Row; postern2: Row | undefined } | undefined;
    if (wants('dovecot')) {
      progress('part 1: logins against Dovecot');
      const postern = await posternOf();
      const [direct, posternRow, posternLocal, posternOff, nginx] = await alternatingRows(
        [
          { name: 'Dovecot direct', endpoint: (i) => dovecotOf(dovecotUser(i)) },
          { name: 'Postern (throttle service)', endpoint: at(postern.endpoint), postern },
          ...(await throttleTargets()),
          { name: 'nginx mail proxy (1 worker)', endpoint: at(nginxDovecot) },
        ],
        dovecotUser,
        dovecotPassword,
        probes,
      );
      d = {
        direct: direct!,
        postern: posternRow!,
        posternLocal: posternLocal!,
        posternOff: posternOff!,
        nginx: nginx!,
        postern2: await workersRow(dovecotUser, dovecotPassword),
      };
    }
    let dovecotFetch: FetchRow[] | undefined;
    if (wants('fetch')) {
      progress(`part 1: FETCH of alice's ${MESSAGE_BYTES / MB} MB message, ${FETCH_REPS} times each`);
      dovecotFetch = await fetchRows(
        [
          { name: 'Dovecot direct', endpoint: dovecotOf(alice) },
          { name: 'Postern', endpoint: (await posternOf()).endpoint },
          { name: 'nginx mail proxy (1 worker)', endpoint: nginxDovecot },
        ],
        alice,
        dovecotPassword(alice),
        readFileSync(upstreams.messagePath(alice, 1)),
      );
    }

    // --- 2. the stand-in ---
    let s:
      | { cold: Row; direct: Row; postern: Row; posternLocal: Row; posternOff: Row; nginx: Row; floor: Row; floorShared: Row; postern2: Row | undefined }
      | undefined;
    if (wants('standin')) {
      progress(`part 2: Postern's cold pass (first login of each of the ${USERS} stand-in accounts: cache miss, route-lookup, slapd)`);
      const postern = await posternOf();
      const cold = await measuredPass(
        'Postern, cold cache (1st login)',
        USERS,
        (i) => loginCycle(postern.endpoint, benchUser(i), password(benchUser(i))),
        probes,
        postern,
      );
      progress('part 2: logins against the stand-in (routes now cached: the steady state)');
      const [direct, posternRow, posternLocal, posternOff, nginx, floorRow, floorSharedRow] = await alternatingRows(
        [
          { name: 'stand-in direct', endpoint: at(standinEndpoint) },
          { name: 'Postern (throttle service)', endpoint: at(postern.endpoint), postern },
          ...(await throttleTargets()),
          { name: 'nginx mail proxy (1 worker)', endpoint: at(nginxStandin) },
          { name: 'Node floor (relay only)', endpoint: at({ host: '127.0.0.1', port: floor.port }) },
          { name: 'Node floor + shared state', endpoint: at({ host: '127.0.0.1', port: floorShared.port }) },
        ],
        benchUser,
        password,
        probes,
      );
      s = {
        cold,
        direct: direct!,
        postern: posternRow!,
        posternLocal: posternLocal!,
        posternOff: posternOff!,
        nginx: nginx!,
        floor: floorRow!,
        floorShared: floorSharedRow!,
        postern2: await workersRow(benchUser, password),
      };
    }
    let standinFetch: FetchRow[] | undefined;
    if (wants('fetch')) {
      progress(`part 2: FETCH of the stand-in's ${MESSAGE_BYTES / MB} MB message, ${FETCH_REPS} times each`);
      standinFetch = await fetchRows(
        [
          { name: 'stand-in direct', endpoint: standinEndpoint },
          { name: 'Postern', endpoint: (await posternOf()).endpoint },
          { name: 'nginx mail proxy (1 worker)', endpoint: nginxStandin },
          { name: 'Node floor (relay only)', endpoint: { host: '127.0.0.1', port: floor.port } },
        ],
        benchUser(0),
        password(benchUser(0)),
        generateMessage({ user: STANDIN_MESSAGE_USER, index: 0, sizeBytes: MESSAGE_BYTES }),
      );
    }

    // --- 2b. IMAPS against Dovecot ---
    let t: { direct: Row; postern: Row; posternPlain: Row; nginx: Row; floor: Row; floorPlain: Row } | undefined;
    let resumption: [string, readonly TlsResumption[]][] = [];
    if (posternImaps && posternImapsPlain) {
      progress('part 2b: logins over IMAPS (implicit TLS, sessions resumed by the client) against Dovecot');
      // One client-side TLS memory per server, as a mail client keeps one per account's server.
      const dovecotTls = new Map(upstreams.servers.map((server) => [server.host, tlsResumption(server.name)]));
      const dovecotImapsOf = (user: string): Endpoint => {
        const server = upstreams.serverOf(user);
        return { host: server.host, port: server.imapsPort!, tls: dovecotTls.get(server.host)! };
      };
      const posternTls = tlsResumption('postern.test');
      const posternPlainTls = tlsResumption('postern.test');
      const nginxTls = tlsResumption('postern.test');
      const floorImapsTls = tlsResumption('postern.test');
      const floorImapsPlainTls = tlsResumption('postern.test');
      const posternImapsEndpoint: Endpoint = { host: '127.0.0.1', port: posternImaps.imapsPort, tls: posternTls };
      const posternImapsPlainEndpoint: Endpoint = { host: '127.0.0.1', port: posternImapsPlain.imapsPort, tls: posternPlainTls };
      const nginxImapsEndpoint: Endpoint = { host: '127.0.0.1', port: nginxImapsPort, tls: nginxTls };
      const [direct, postern, posternPlain, nginx, floorRow, floorPlain] = await alternatingRows(
        [
          { name: 'Dovecot direct (IMAPS)', endpoint: (i) => dovecotImapsOf(dovecotUser(i)) },
          { name: 'Postern IMAPS (TLS upstream)', endpoint: at(posternImapsEndpoint), postern: posternImaps },
          { name: 'Postern IMAPS (plain upstream)', endpoint: at(posternImapsPlainEndpoint), postern: posternImapsPlain },
          { name: 'nginx mail proxy IMAPS (1 worker)', endpoint: at(nginxImapsEndpoint) },
          { name: 'Node floor IMAPS (TLS upstream)', endpoint: at({ host: '127.0.0.1', port: floorImaps.port, tls: floorImapsTls }) },
          { name: 'Node floor IMAPS (plain upstream)', endpoint: at({ host: '127.0.0.1', port: floorImapsPlain.port, tls: floorImapsPlainTls }) },
        ],
        dovecotUser,
        dovecotPassword,
        probes,
      );
      t = { direct: direct!, postern: postern!, posternPlain: posternPlain!, nginx: nginx!, floor: floorRow!, floorPlain: floorPlain! };
      resumption = [
        [t.direct.name, [...dovecotTls.values()]],
        [t.postern.name, [posternTls]],
        [t.posternPlain.name, [posternPlainTls]],
        [t.nginx.name, [nginxTls]],
        [t.floor.name, [floorImapsTls]],
        [t.floorPlain.name, [floorImapsPlainTls]],
      ];
    }

    // --- 3. memory per spliced session ---
    let sessions: SessionFigures | undefined;
    if (wants('sessions')) {
      progress('part 3: one fresh mail-proxy (throttle on) holding spliced sessions');
      sessions = await sessionMemory(await startProxy('postern-sessions'), standin.process.pid);
    }

    // --- report ---
    const out: string[] = [];
    const present = <T>(...rows: (T | undefined)[]): T[] => rows.filter((r): r is T => r !== undefined);
    if (d) {
      const rows = present(d.direct, d.postern, d.posternLocal, d.posternOff, d.nginx, d.postern2);
      out.push(
        loginTable(
          `1. Logins against real Dovecot mailbox servers (${DOVECOT_USERS.join(', ')}), ${LOGINS} cycles, ${CONCURRENCY} in flight`,
          rows,
          d.direct,
          d.nginx,
        ),
      );
      out.push(throttleCostLine('service', d.postern, d.posternOff));
      out.push(throttleCostLine('local', d.posternLocal, d.posternOff));
      out.push(cpuTable('CPU per login against Dovecot (ms of user+system time from /proc over the measured pass, every process)', rows));
    }
    if (dovecotFetch) {
      out.push(
        fetchTable(
          `FETCH 1 BODY.PEEK[] of a ${MESSAGE_BYTES / MB} MB message from Dovecot (median of ${FETCH_REPS}; MB = 2^20 bytes; every copy compared byte for byte)`,
          dovecotFetch,
        ),
      );
    }
    if (s) {
      const rows = present(s.direct, s.postern, s.posternLocal, s.posternOff, s.nginx, s.floor, s.floorShared, s.postern2, s.cold);
      out.push(
        loginTable(
          `2. Logins against the IMAP stand-in (${USERS} accounts, routes cached after the warm-up), ${LOGINS} cycles, ${CONCURRENCY} in flight`,
          rows,
          s.direct,
          s.nginx,
        ),
      );
      out.push(throttleCostLine('service', s.postern, s.posternOff));
      out.push(throttleCostLine('local', s.posternLocal, s.posternOff));
      out.push(cpuTable('CPU per login against the stand-in (ms, as above)', rows));
    }
    if (standinFetch) out.push(fetchTable(`FETCH of a ${MESSAGE_BYTES / MB} MB message from the stand-in (median of ${FETCH_REPS})`, standinFetch));
    if (t) {
      const rows = [t.direct, t.postern, t.posternPlain, t.nginx, t.floor, t.floorPlain];
      out.push(
        loginTable(
          `2b. Logins over IMAPS (implicit TLS; the client resumes TLS sessions) against Dovecot, ${LOGINS} cycles, ${CONCURRENCY} in flight`,
          rows,
          t.direct,
          t.nginx,
        ),
      );
      out.push(resumptionLines(resumption));
      out.push(cpuTable('CPU per login over IMAPS (ms, as above)', rows));
    }
    const phaseRows: [string, Row | undefined][] = [
      ['Dovecot, throttle service', d?.postern],
      ['Dovecot, throttle local', d?.posternLocal],
      ['Dovecot, throttle off', d?.posternOff],
      ['stand-in, throttle service', s?.postern],
      ['stand-in, throttle local', s?.posternLocal],
      ['stand-in, throttle off', s?.posternOff],
      ['stand-in, cold cache (1st login)', s?.cold],
      ['Dovecot over IMAPS, TLS upstream', t?.postern],
      ['Dovecot over IMAPS, plain upstream', t?.posternPlain],
    ];
    const phases = phaseRows.filter((entry): entry is [string, Row] => entry[1] !== undefined);
    if (phases.length > 0) out.push(phaseTable(phases));
    if (sessions) out.push(sessionTable(sessions));

    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const groupCpu = (r: Row, groups: readonly string[]) => groups.reduce((sum, g) => sum + (r.cpu.get(g) ?? 0), 0);
    const cpuLine = (p: Row, n: Row) => {
      const [a, b] = [groupCpu(p, ['mail-proxy']), groupCpu(n, ['nginx'])];
      return `${fmt(a, 3)} vs ${fmt(b, 3)} ms (${ratio(a, b)}) → ${met(a <= b)}`;
    };
    const stackLine = (p: Row, n: Row) => {
      const [a, b] = [groupCpu(p, ['mail-proxy', 'login-throttle', 'route-lookup', 'nats-server', 'memcached']), groupCpu(n, ['nginx', 'auth_http'])];
      return `${fmt(a, 3)} vs ${fmt(b, 3)} ms (${ratio(a, b)})`;
    };
    const POSTERN_STACK = ['mail-proxy', 'login-throttle', 'route-lookup', 'nats-server', 'memcached'];
    const fetchOk = (rows: readonly FetchRow[]) => rows[1]!.ms <= rows[0]!.ms * 1.1;
    /** "Dovecot X; stand-in Y" over the login parts that ran. */
    const both = (line: (r: NonNullable<typeof d> | NonNullable<typeof s>) => string) =>
      [d ? `Dovecot ${line(d)}` : undefined, s ? `stand-in ${line(s)}` : undefined].filter((x) => x !== undefined).join('; ');
    const targets: string[] = [];
    if (d || s) {
      targets.push(
        `  Postern logins/s ≥ nginx's:               ${both((r) => `${ratio(r.posternLocal.rate, r.nginx.rate)} → ${met(r.posternLocal.rate >= r.nginx.rate)}; p99 ${fmt(r.posternLocal.p99)} vs ${fmt(r.nginx.p99)} ms → ${met(r.posternLocal.p99 <= r.nginx.p99)}`)}`,
        `  CPU per login ≤ nginx's (mail-proxy vs nginx):      ${both((r) => cpuLine(r.posternLocal, r.nginx))}`,
        `  CPU per login, whole stack vs nginx + auth_http:  ${both((r) => stackLine(r.posternLocal, r.nginx))}`,
        `  throttle costs ≤ 10% of logins/s, local:   ${both((r) => `${ratio(r.posternLocal.rate, r.posternOff.rate)} → ${met(r.posternLocal.rate >= 0.9 * r.posternOff.rate)}`)}`,
        `  throttle costs ≤ 10% of logins/s, service: ${both((r) => `${ratio(r.postern.rate, r.posternOff.rate)} → ${met(r.postern.rate >= 0.9 * r.posternOff.rate)}`)}`,
      );
    }
    if (dovecotFetch && standinFetch) {
      targets.push(
        `  FETCH through Postern within 10% of direct: Dovecot ${ratio(dovecotFetch[1]!.ms, dovecotFetch[0]!.ms)} → ${met(fetchOk(dovecotFetch))}; stand-in ${ratio(standinFetch[1]!.ms, standinFetch[0]!.ms)} → ${met(fetchOk(standinFetch))} ` +
          `(the Node floor's pipe(): ${ratio(standinFetch[3]!.ms, standinFetch[0]!.ms)})`,
      );
    }
    if (s) {
      const stackCpu = groupCpu(s.posternLocal, POSTERN_STACK);
      const floorCpu = groupCpu(s.floor, ['floor']);
      // What a proxy with shared throttle counters and a shared route cache must spend: the floor's relay and the memcached round trips, memcached's CPU included.
      const floorSharedCpu = groupCpu(s.floorShared, ['floor', 'memcached']);
      targets.push(
        `  the platform's floor (relay only) vs nginx: CPU ${fmt(floorCpu, 3)} vs ${fmt(groupCpu(s.nginx, ['nginx']), 3)} ms (${ratio(floorCpu, groupCpu(s.nginx, ['nginx']))}); ` +
          `Postern (throttle off) ÷ floor: CPU ${ratio(groupCpu(s.posternOff, ['mail-proxy']), floorCpu)}, rate ${ratio(s.posternOff.rate, s.floor.rate)}`,
        `  login path, CPU per login of every Postern process ≤ 1.6× the floor's, stand-in: ${fmt(stackCpu, 3)} vs ${fmt(floorCpu, 3)} ms (${ratio(stackCpu, floorCpu)}) → ${met(stackCpu <= 1.6 * floorCpu)}`,
        `  the design's floor (the floor + the same memcached round trips, memcached included): ${fmt(floorSharedCpu, 3)} ms; Postern ÷ it: CPU ${ratio(stackCpu, floorSharedCpu)}, ` +
          `rate ${ratio(s.posternLocal.rate, s.floorShared.rate)} (the state's own cost: ${fmt(floorSharedCpu - floorCpu, 3)} ms, ${ratio(floorSharedCpu, floorCpu)} the bare floor)`,
      );
    }
    if (d || s) {
      targets.push(
        `  login path, logins/s ≥ 0.65× nginx's:    ${both((r) => `${ratio(r.posternLocal.rate, r.nginx.rate)} → ${met(r.posternLocal.rate >= 0.65 * r.nginx.rate)}`)}`,
      );
    }
    if (t) {
      const floorTlsRatio = t.floor.rate / t.direct.rate;
      targets.push(
        `  IMAPS, Postern logins/s ≥ 0.85× Dovecot direct's: ${ratio(t.postern.rate, t.direct.rate)} → ${met(t.postern.rate >= 0.85 * t.direct.rate)} ` +
          `(with plain IMAP to Dovecot as nginx's: ${ratio(t.posternPlain.rate, t.direct.rate)}; nginx IMAPS: ${ratio(t.nginx.rate, t.direct.rate)})`,
        `  IMAPS, the Node floor over TLS ÷ Dovecot direct IMAPS = ${ratio(t.floor.rate, t.direct.rate)}: the 0.85× target is ${floorTlsRatio >= 0.85 ? 'reachable' : 'NOT reachable'} by any Node proxy on this machine ` +
          `(the floor with plain IMAP to Dovecot: ${ratio(t.floorPlain.rate, t.direct.rate)}); Postern ÷ the floor over TLS: rate ${ratio(t.postern.rate, t.floor.rate)}, ` +
          `CPU ${ratio(groupCpu(t.postern, ['mail-proxy']), groupCpu(t.floor, ['floor']))}`,
      );
    }
    if (d?.postern2 || s?.postern2) {
      const workers = [
        d?.postern2 ? `Dovecot ${ratio(d.postern2.rate, d.posternLocal.rate)}` : undefined,
        s?.postern2 ? `stand-in ${ratio(s.postern2.rate, s.posternLocal.rate)}` : undefined,
      ];
      targets.push(
        `  2 workers against 1 (rate):              ${workers.filter((x) => x !== undefined).join('; ')} (the load generator and the upstreams share the same ${cpus().length} cores)`,
      );
    }
    if (sessions) {
      const perSession = sessionBytesEach(sessions);
      const at10k = sessions.held >= 10_000 ? sessions.rssHeld : perSession === undefined ? undefined : sessions.rssIdle + perSession * 10_000;
      const rest =
        at10k === undefined
          ? `at rest: too few sessions to tell (${sessions.held} held)`
          : `at rest ${mb(at10k)}${sessions.held >= 10_000 ? '' : ` (extrapolated from ${sessions.held})`} → ${met(at10k <= 300 * MB && sessions.collectedAtRest)}`;
      targets.push(
        `  10,000 sessions ≤ 300 MB:                 ${rest}; peak while opening ${sessions.held} at ${SESSION_BATCH} logins in flight ${mb(sessions.hwm)} → ${met(sessions.hwm <= 300 * MB)}`,
      );
    }
    out.push(`\nTargets (information, not asserted; parts run: ${[...PARTS].join(', ')})\n${targets.map((line) => `${line}\n`).join('')}`);
    out.push(
      `\nPostern: one mail-proxy worker per row (the last row: a primary and two workers), its whole login path (throttle checks as the row says, route from memcached),\n` +
        `logging at ${LOG_LEVEL}; upstream it sends ID (the client's address) and LOGIN with non-synchronizing literals in one write: one round trip.\n` +
        `nginx ${nginxVersion()}: worker_processes 1 (one event loop, like one mail-proxy process), error_log at warn, proxy_buffer as shipped;\n` +
        `upstream it sends LOGIN with synchronizing literals (three round trips), and it asks auth_http over a new HTTP/1.0\n` +
        `connection per login (part 1: a Node service, its CPU under auth_http; part 2: nginx's own http module, in the same worker).\n` +
        `A warm-up pass ran before every measured row; the cold row is each stand-in account's first login (a route-cache miss).\n` +
        `All processes share this machine's ${cpus().length} cores with the load generator (one event loop); "cores busy" is the CPU\n` +
        `the pass used over its wall time.\n`,
    );
    process.stdout.write(out.join(''));
  } finally {
    await nats?.stop();
    await stopAll();
    await removeDir(dir);
  }
}

process.once('SIGINT', () => {
  void stopAll().finally(() => process.exit(130));
});

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:mail failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
