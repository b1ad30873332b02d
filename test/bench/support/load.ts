/**
 * Load loops for bench:mail: login cycles with C in flight from one event loop, held sessions,
 * timed FETCHes, and what the kernel says of a process (RSS, open descriptors, limits).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { binary } from '../../harness/process';
import { BenchImapClient, type Endpoint } from './imap-client';

const run = promisify(execFile);

/** One login cycle, in milliseconds. */
export interface LoginSample {
  /** connect → greeting → LOGIN → tagged OK → LOGOUT → tagged OK. */
  readonly total: number;
  /** connect → greeting (Postern asks the throttle before it greets). */
  readonly greeting: number;
  /** LOGIN sent → tagged OK. */
  readonly login: number;
}

// Generous: a bench must report slowness, not turn it into errors.
const STEP_TIMEOUT_MS = 30_000;

/** connect → greeting → `a LOGIN user pass` → tagged OK → `b LOGOUT` → tagged OK → close. */
export async function loginCycle(endpoint: Endpoint, user: string, password: string): Promise<LoginSample> {
  const started = performance.now();
  const deadline = started + STEP_TIMEOUT_MS;
  const client = await BenchImapClient.connect(endpoint, deadline);
  try {
    await client.greeting(deadline);
    const greeted = performance.now();
    await client.command('a', `LOGIN ${user} ${password}`, deadline);
    const loggedIn = performance.now();
    await client.command('b', 'LOGOUT', deadline);
    return { total: performance.now() - started, greeting: greeted - started, login: loggedIn - greeted };
  } finally {
    client.close();
  }
}

/** Logs in and keeps the session open (spliced, when through a proxy). */
export async function openSession(endpoint: Endpoint, user: string, password: string): Promise<BenchImapClient> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  const client = await BenchImapClient.connect(endpoint, deadline);
  try {
    await client.greeting(deadline);
    await client.command('a', `LOGIN ${user} ${password}`, deadline);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/** Logs in, selects INBOX and times `FETCH 1 BODY.PEEK[]` alone (send → tagged OK). */
export async function timedFetch(endpoint: Endpoint, user: string, password: string): Promise<{ ms: number; body: Buffer }> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  const client = await BenchImapClient.connect(endpoint, deadline);
  try {
    await client.greeting(deadline);
    await client.command('a', `LOGIN ${user} ${password}`, deadline);
    await client.command('s', 'SELECT INBOX', deadline);
    const started = performance.now();
    const body = await client.fetchLiteral('f', 'FETCH 1 BODY.PEEK[]', deadline);
    const ms = performance.now() - started;
    await client.command('b', 'LOGOUT', deadline);
    return { ms, body };
  } finally {
    client.close();
  }
}

export interface LoginFigures {
  readonly name: string;
  readonly count: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  /** Successful logins per second. */
  readonly rate: number;
  /** Mean of the whole cycle, ms. */
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  /** The slowest cycle, ms. */
  readonly max: number;
  readonly greetingP50: number;
  readonly loginP50: number;
}

/** The login cycles of one or more passes against one target, before they are summarised. */
export interface LoginRun {
  readonly samples: LoginSample[];
  count: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
}

export function emptyRun(): LoginRun {
  return { samples: [], count: 0, errors: 0, firstError: undefined, seconds: 0 };
}

/**
 * Runs `count` login cycles with `concurrency` in flight, adding them to `into` (a new run by
 * default). A failed cycle is counted (and the first error kept) but not timed.
 */
export async function runLogins(count: number, concurrency: number, op: (i: number) => Promise<LoginSample>, into: LoginRun = emptyRun()): Promise<LoginRun> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        try {
          into.samples.push(await op(i));
        } catch (error) {
          into.errors++;
          into.firstError ??= (error as Error).message;
        }
      }
    }),
  );
  into.seconds += (performance.now() - started) / 1000;
  into.count += count;
  return into;
}

/** What a run amounts to: rate over the time its passes took, latency over all of its cycles. */
export function loginFigures(name: string, run: LoginRun): LoginFigures {
  const { samples } = run;
  const total = samples.map((s) => s.total).sort((a, b) => a - b);
  return {
    name,
    count: run.count,
    errors: run.errors,
    firstError: run.firstError,
    seconds: run.seconds,
    rate: samples.length / run.seconds,
    mean: total.reduce((sum, t) => sum + t, 0) / Math.max(1, total.length),
    p50: percentile(total, 0.5),
    p99: percentile(total, 0.99),
    max: total.at(-1) ?? Number.NaN,
    greetingP50: percentile(
      samples.map((s) => s.greeting).sort((a, b) => a - b),
      0.5,
    ),
    loginP50: percentile(
      samples.map((s) => s.login).sort((a, b) => a - b),
      0.5,
    ),
  };
}

/**
 * Runs `count` login cycles with `concurrency` in flight. A failed cycle is counted (and the first
 * error kept) but not timed; the row shows how many failed.
 */
export async function measureLogins(name: string, count: number, concurrency: number, op: (i: number) => Promise<LoginSample>): Promise<LoginFigures> {
  return loginFigures(name, await runLogins(count, concurrency, op));
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM: the kernel reports kB). */
export async function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Descriptors `pid` has open now. */
export async function openDescriptors(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** `pid`'s soft limit on open descriptors (RLIMIT_NOFILE), from /proc/<pid>/limits. */
export async function descriptorLimit(pid: number): Promise<number> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!match) throw new Error(`no open-files limit in /proc/${pid}/limits`);
  return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/**
 * Raises `pid`'s open-files limit (soft and hard) to `to` with prlimit(1). Raising a hard limit
 * needs CAP_SYS_RESOURCE; returns undefined when it worked, else prlimit's reason.
 */
export async function raiseDescriptorLimit(pid: number, to: number): Promise<string | undefined> {
  try {
    await run(binary('prlimit'), ['--pid', String(pid), `--nofile=${to}:${to}`], { timeout: 10_000 });
    return undefined;
  } catch (error) {
    const detail = error as { stderr?: string; message: string };
    return (detail.stderr || detail.message).trim();
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms) used so far by `pid`, with `tree` also by its descendants: live
 * ones read one by one, exited and reaped ones through each live process's cutime/cstime. 0 for
 * a process that is gone.
 */
export async function cpuMs(pid: number, tree = false): Promise<number> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after "pid (comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  let ms = (ticks * 1000) / USER_HZ;
  if (!tree) return ms;
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const child of children.split(/\s+/).filter(Boolean)) ms += await cpuMs(Number(child), true);
  return ms;
}

/** A process (or process tree) whose CPU time is counted under `group`. */
export interface CpuProbe {
  readonly group: string;
  readonly pid: number;
  readonly tree?: boolean;
}

/** The load generator's own group name (this process, from process.cpuUsage()). */
export const CLIENT_GROUP = 'client';

/** CPU ms used so far per group, plus {@link CLIENT_GROUP} for this process. */
export async function cpuSnapshot(probes: readonly CpuProbe[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const probe of probes) out.set(probe.group, (out.get(probe.group) ?? 0) + (await cpuMs(probe.pid, probe.tree)));
  const own = process.cpuUsage();
  out.set(CLIENT_GROUP, (own.user + own.system) / 1000);
  return out;
}

/** Per-group CPU between two snapshots, divided by `per` (e.g. ms per login). */
export function cpuBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, per: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [group, value] of after) out.set(group, (value - (before.get(group) ?? 0)) / Math.max(1, per));
  return out;
}

/** Throughput and latency of one kind of operation (milliseconds). */
export interface OpFigures {
  readonly name: string;
  readonly ops: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Runs `count` operations with `concurrency` in flight (the request benches' loop). */
export async function measureOps(name: string, count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<OpFigures> {
  const latencies = new Array<number>(count);
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
  latencies.sort((a, b) => a - b);
  return { name, ops: count / seconds, seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? Number.NaN };
}
