/**
 * The cluster drill: a bounded login load runs through HAProxy against the drill cluster while one
 * part after another is killed with SIGKILL, kept down a while, and started again; then the table.
 *
 * Timeline: a quiet baseline, then for each part: kill → down for `downSeconds` → restart → poll
 * until the part is back in service → `settleSeconds` more → the next part. Each login belongs to
 * the window in which it started, except one that started before the killed process was gone and
 * failed after the signal: that one was in flight at the kill and belongs to the kill's window,
 * where it is counted apart (the goal is no failed login beyond those).
 *
 * Meanwhile nothing may carry a password outside the login: every NATS message (`>` subscribers on
 * the two nodes that are never killed), every line every process writes, and at the end every
 * memcached key and value are scanned for every password used, right and wrong.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  dashboardQueries,
  dumpMemcached,
  panelsWithoutData,
  removeDir,
  scratchDir,
  startPrometheus,
  tapOutput,
  waitFor,
  type PrometheusServer,
  type ServiceProcess,
} from '../harness';
import { startDrillCluster, UNREACHABLE, type DrillCluster, type DrillClusterOptions } from './cluster';
import { DrillLoad, session, type Attempt, type Guess } from './load';

export interface DrillOptions extends DrillClusterOptions {
  readonly clients: number;
  readonly baselineSeconds: number;
  readonly downSeconds: number;
  readonly settleSeconds: number;
  /** Longest wait for a restarted part to be back in service before the drill says it is not. */
  readonly recoveryTimeoutSeconds: number;
  /**
   * Run Prometheus (Debian's) scraping every service throughout, and at the end check that every
   * panel of the Grafana dashboard has data.
   */
  readonly dashboard: boolean;
  readonly progress?: (line: string) => void;
}

export interface DrillRow {
  readonly fault: string;
  readonly attempted: number;
  readonly failed: number;
  /** Logins that started before the kill and failed after it. */
  readonly inFlight: number;
  readonly beyondInFlight: number;
  readonly slowestMs: number;
  /** From the restart until the part was back in service; undefined when it never was. */
  readonly recoveryMs: number | undefined;
  /** Throttle checks the mail-proxies decided by the fail mode (no answer in time). */
  readonly failOpen: number;
  /** The abuser's guesses in the window: let through to the mailbox server, refused by the throttle. */
  readonly guessesThrough: number;
  readonly guessesRefused: number;
  readonly firstError: string | undefined;
}

export interface DrillReport {
  readonly rows: DrillRow[];
  /** With `dashboard`: how many panels the dashboard has, and the titles of those that had no data. */
  readonly dashboard?: { readonly panels: number; readonly empty: readonly string[] };
  /** Where a password was found ("<password> in <place>"); empty when none was. */
  readonly leaks: string[];
  /** What the scan read. */
  readonly scanned: {
    readonly natsMessages: number;
    readonly logBytes: number;
    readonly cacheEntries: number;
    /** Places where the scan found the abuser's target account's name: it reads what carries names. */
    readonly victimNamed: number;
  };
}

interface Window {
  readonly fault: string;
  readonly from: number;
  to: number;
  /** When the killed process was seen to exit (a login that started before it may have reached it). */
  killedAt: number;
  restartedAt?: number;
  recoveredAt?: number;
  failOpen: number;
}

/** Scans text for the passwords; remembers where each hit was. */
class PasswordScan {
  readonly leaks: string[] = [];
  /** Places that held {@link marker}. */
  marked = 0;
  private readonly longest: number;
  private readonly tails = new Map<object, string>();

  constructor(
    private readonly passwords: readonly string[],
    private readonly marker: string,
  ) {
    this.longest = Math.max(marker.length, ...passwords.map((p) => p.length));
  }

  /** One chunk of a stream (`source` tells streams apart: a password split over two chunks is still found). */
  stream(source: object, where: string, chunk: string): void {
    const text = (this.tails.get(source) ?? '') + chunk;
    this.text(where, text);
    this.tails.set(source, text.slice(-(this.longest - 1)));
  }

  text(where: string, text: string): void {
    if (text.includes(this.marker)) this.marked++;
    for (const password of this.passwords) if (text.includes(password)) this.leaks.push(`${password} in ${where}`);
  }
}

async function sample(processes: readonly ServiceProcess[], metric: string): Promise<Map<ServiceProcess, number>> {
  const values = await Promise.all(processes.map((p) => p.metric(metric).catch(() => undefined)));
  return new Map(processes.flatMap((p, i) => (values[i] === undefined ? [] : [[p, values[i]] as const])));
}

/** What the processes counted between two samples (a process started in between counts from 0). */
function delta(before: Map<ServiceProcess, number>, after: Map<ServiceProcess, number>): number {
  let sum = 0;
  for (const [p, value] of after) sum += value - (before.get(p) ?? 0);
  return sum;
}

/** The dashboard's panel of throttle checks decided by the fail mode. */
export const FAIL_MODE_PANEL = 'Throttle fail-mode verdicts (the throttle did not answer)';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const progress = options.progress ?? (() => undefined);
  const dir = await scratchDir('drill');
  let scan: PasswordScan | undefined;
  let logBytes = 0;
  const untap = tapOutput((source, chunk) => {
    logBytes += chunk.length;
    scan?.stream(source, `${source.name}'s output`, chunk);
  });
  const taps: NatsConnection[] = [];
  let cluster: DrillCluster | undefined;
  let load: DrillLoad | undefined;
  let prometheus: PrometheusServer | undefined;
  try {
    progress('starting the cluster: 3 NATS nodes (JetStream), 2 memcached, slapd, 2 Dovecot, 2 of each Postern service, HAProxy');
    cluster = await startDrillCluster(dir, options);
    scan = new PasswordScan(cluster.passwords, cluster.victim.user);
    let natsMessages = 0;
    // The killed node is the last; these two stay up, and each sees every message of the cluster.
    for (const server of cluster.nats.servers.slice(0, 2)) {
      const tap = await connect({ servers: server.url, name: 'drill-scan' });
      tap.subscribe('>', {
        callback: (_error, msg) => {
          natsMessages++;
          scan!.text(`NATS ${msg.subject}`, Buffer.from(msg.data).toString('latin1'));
        },
      });
      await tap.flush();
      taps.push(tap);
    }
    if (options.dashboard) {
      const at = (role: keyof DrillCluster['services']) => cluster!.services[role].map((s) => `127.0.0.1:${s.httpPort}`);
      // The job names of deploy/prometheus/postern.yml; a restarted service keeps its port.
      prometheus = await startPrometheus({
        'postern-mail-proxy': at('mail-proxy'),
        'postern-web-proxy': at('web-proxy'),
        'postern-route-lookup': at('route-lookup'),
        'postern-login-throttle': at('login-throttle'),
        'postern-config-watcher': at('config-watcher'),
      });
    }
    const mailProxies = () => cluster!.services['mail-proxy'];
    const sampleFailOpen = () => sample(mailProxies(), 'postern_mail_throttle_fallbacks_total');

    progress(`${options.clients} clients logging in through HAProxy; baseline ${options.baselineSeconds} s`);
    load = new DrillLoad(cluster, options.clients);
    const started = performance.now();
    const windows: Window[] = [{ fault: 'none (baseline)', from: started, killedAt: started, to: Infinity, failOpen: 0 }];
    let before = await sampleFailOpen();
    await sleep(options.baselineSeconds * 1000);
    for (const part of cluster.parts) {
      const after = await sampleFailOpen();
      windows.at(-1)!.failOpen = delta(before, after);
      before = after;
      const from = performance.now();
      const window: Window = { fault: part.name, from, killedAt: from, to: Infinity, failOpen: 0 };
      windows.at(-1)!.to = window.from;
      windows.push(window);
      progress(`  SIGKILL ${part.name}; down ${options.downSeconds} s`);
      await part.kill();
      window.killedAt = performance.now();
      await sleep(options.downSeconds * 1000);
      window.restartedAt = performance.now();
      await part.restart();
      await waitFor(`${part.name} back in service`, () => part.backInService(), { timeoutMs: options.recoveryTimeoutSeconds * 1000, intervalMs: 100 }).then(
        () => (window.recoveredAt = performance.now()),
        (error: Error) => progress(`  ${error.message}`),
      );
      progress(
        `  ${part.name} ${window.recoveredAt ? `back in service ${((window.recoveredAt - window.restartedAt) / 1000).toFixed(1)} s after its restart` : 'NOT back in service'}`,
      );
      await sleep(options.settleSeconds * 1000);
    }
    windows.at(-1)!.failOpen = delta(before, await sampleFailOpen());
    progress('stopping the load');
    await load.stop();
    windows.at(-1)!.to = performance.now();

    let dashboard: DrillReport['dashboard'];
    if (prometheus) {
      // What the load does not do: a login whose mailbox server cannot be reached, and web requests.
      await session(cluster, 'imap', UNREACHABLE).catch(() => undefined);
      for (const port of cluster.webPorts) await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      progress('checking that every panel of the Grafana dashboard has data in Prometheus');
      // The fail mode decides only when a check found no answer in time, which a lost NATS server may or may not cause.
      const optional = windows.some((w) => w.failOpen > 0) ? [] : [FAIL_MODE_PANEL];
      dashboard = { panels: new Set(dashboardQueries().queries.map((q) => q.panel)).size, empty: await panelsWithoutData(prometheus, 60_000, optional) };
    }
    const cached = (await Promise.all(cluster.memcached.map((m) => dumpMemcached(m.address)))).flat();
    for (const { key, value } of cached) scan.text(`memcached ${key}`, `${key} ${value.toString('latin1')}`);
    return {
      rows: rows(windows, load.attempts, load.guesses),
      dashboard,
      leaks: scan.leaks,
      scanned: { natsMessages, logBytes, cacheEntries: cached.length, victimNamed: scan.marked },
    };
  } finally {
    await load?.stop();
    await Promise.all(taps.map((tap) => tap.close()));
    await prometheus?.process.stop();
    await cluster?.stop();
    untap();
    await removeDir(dir);
  }
}

function rows(windows: readonly Window[], attempts: readonly Attempt[], guesses: readonly Guess[]): DrillRow[] {
  const byWindow = windows.map(() => ({ all: [] as Attempt[], inFlight: 0 }));
  for (const attempt of attempts) {
    // The last kill the attempt spans (started before the process was gone, failed after the signal); else the window it started in.
    const spanned = attempt.error === undefined ? -1 : windows.findLastIndex((w, i) => i > 0 && attempt.start < w.killedAt && attempt.end >= w.from);
    const i = spanned >= 0 ? spanned : windows.findIndex((w) => attempt.start >= w.from && attempt.start < w.to);
    if (i < 0) continue;
    byWindow[i]!.all.push(attempt);
    if (spanned >= 0) byWindow[i]!.inFlight++;
  }
  return windows.map((w, i) => {
    const { all, inFlight } = byWindow[i]!;
    const failed = all.filter((a) => a.error !== undefined);
    const ok = all.filter((a) => a.error === undefined);
    const mine = guesses.filter((g) => g.at >= w.from && g.at < w.to);
    return {
      fault: w.fault,
      attempted: all.length,
      failed: failed.length,
      inFlight,
      beyondInFlight: failed.length - inFlight,
      slowestMs: Math.max(0, ...ok.map((a) => a.end - a.start)),
      recoveryMs: w.restartedAt !== undefined && w.recoveredAt !== undefined ? w.recoveredAt - w.restartedAt : undefined,
      failOpen: w.failOpen,
      guessesThrough: mine.filter((g) => g.outcome === 'let through').length,
      guessesRefused: mine.filter((g) => g.outcome === 'refused').length,
      firstError: failed.find((a) => a.start >= w.from)?.error ?? failed[0]?.error,
    };
  });
}

/** The drill's table (markdown), and the first failure of each row that had one. */
export function drillTable(report: DrillReport): string {
  const head = [
    'SIGKILL',
    'logins attempted',
    'failed',
    'in flight at the kill',
    'failed beyond those',
    'slowest login (s)',
    'back in service after restart (s)',
    'throttle checks failed open',
    "abuser's guesses: let through / refused",
  ];
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const lines = report.rows.map((r) => [
    r.fault,
    String(r.attempted),
    String(r.failed),
    String(r.inFlight),
    String(r.beyondInFlight),
    s(r.slowestMs),
    r.fault.startsWith('none') ? '' : r.recoveryMs === undefined ? 'never' : s(r.recoveryMs),
    String(r.failOpen),
    `${r.guessesThrough} / ${r.guessesRefused}`,
  ]);
  const md = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const out = [md(head), md(head.map(() => '---')), ...lines.map(md)];
  for (const r of report.rows) if (r.firstError) out.push(`\n${r.fault}: a failure: ${r.firstError}`);
  return `${out.join('\n')}\n`;
}

/** The goal, row by row: what was missed (empty when every part passed). */
export function drillMisses(report: DrillReport): string[] {
  return [
    ...report.rows.filter((r) => r.beyondInFlight > 0).map((r) => `${r.fault}: ${r.beyondInFlight} failed logins beyond those in flight`),
    ...report.rows.filter((r) => !r.fault.startsWith('none') && r.recoveryMs === undefined).map((r) => `${r.fault}: not back in service`),
    ...report.leaks.map((leak) => `a password outside the login: ${leak}`),
    ...(report.dashboard?.empty ?? [])
      .filter((panel) => panel !== FAIL_MODE_PANEL || report.rows.some((r) => r.failOpen > 0))
      .map((panel) => `a dashboard panel without data: ${panel}`),
  ];
}
