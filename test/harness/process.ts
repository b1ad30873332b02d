/**
 * Process helpers for the test harness: start a real server on an ephemeral loopback port,
 * poll until it answers, and stop exactly the process that was started.
 *
 * Never fixed ports, never fixed sleeps: a free port is asked of the kernel (bind to port 0),
 * and readiness is a successful TCP connect (or a caller-supplied probe) polled with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server process started by the harness. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Terminates the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash, for fault drills) and waits for it to exit. */
  kill(): Promise<void>;
  /** True once the process has exited. */
  readonly exited: boolean;
}

/**
 * Ports for servers the tests start, below the kernel's ephemeral range (Linux: 32768-60999 by
 * default). A port the kernel hands out for `listen(0)` comes from that range, which every outgoing
 * connection also draws from: between the probe and the server's own bind, a client socket of a
 * test running alongside could take it. Below the range only another test's pick can collide,
 * and picks are random and never repeated within one process.
 */
const PORT_RANGE = { first: 20_000, last: 32_000 } as const;
const handedOut = new Set<number>();

/** A free TCP port on `host` for a server a test is about to start (see {@link PORT_RANGE}). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.first + Math.floor(Math.random() * (PORT_RANGE.last - PORT_RANGE.first + 1));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} between ${PORT_RANGE.first} and ${PORT_RANGE.last}`);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The scratch directories made and not yet removed, in this process (a test file's worker). */
const scratchDirs = new Set<string>();

/** Creates a scratch directory; remove it with {@link removeDir} (else it goes at the end of the test file, or at exit). */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `postern-${prefix}-`));
  scratchDirs.add(dir);
  return dir;
}

/** Removals under way: a test file may end (and vitest its worker) before one has finished. */
const removing = new Map<string, Promise<void>>();

export async function removeDir(dir: string): Promise<void> {
  scratchDirs.delete(dir);
  const removal = rm(dir, { recursive: true, force: true }).finally(() => removing.delete(dir));
  removing.set(dir, removal);
  await removal;
}

/**
 * Removes every scratch directory still there: certificates a test never removed, stores of
 * servers it left running, and the rest of any removal still under way (a server's store goes when
 * the server exits, often just as the test file ends). Vitest ends its workers without their
 * `exit` event, so each test file awaits this after its own hooks (test/harness/vitest-setup.ts).
 */
export async function settleScratchDirs(): Promise<void> {
  await Promise.allSettled(removing.values());
  removeScratchDirs();
}

/** The same at once, for the `exit` event: whatever is left, removal under way or not. */
export function removeScratchDirs(): void {
  for (const dir of [...scratchDirs, ...removing.keys()]) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

/** Polls `probe` until it resolves true or the deadline passes. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean> | boolean,
  { timeoutMs = 15_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when a TCP connection to host:port succeeds. */
export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const running = new Set<ManagedProcess>();
let ownProcessGroups = false;
const outputTaps = new Set<(source: ManagedProcess, chunk: string) => void>();

/**
 * Hears every chunk every later-started process writes (stdout and stderr), whole: what a scan of
 * all output needs when output() keeps only a tail. Returns the function that removes the tap.
 */
export function tapOutput(listener: (source: ManagedProcess, chunk: string) => void): () => void {
  outputTaps.add(listener);
  return () => outputTaps.delete(listener);
}

/**
 * Starts every later process in its own process group. A terminal's Ctrl-C signals the whole
 * foreground group: without this, nats-server and memcached would stop at the same moment as the
 * services that still need them to drain. With it, only the caller hears Ctrl-C and stops what it
 * started in order (the single-node stack does).
 */
export function isolateFromTerminalSignals(): void {
  ownProcessGroups = true;
}

/** Spawns a server in the foreground and tracks it so that it can be stopped even when a test fails. */
export function startProcess(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ManagedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownProcessGroups,
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    for (const tap of outputTaps) tap(managed, text);
    log += text;
    // Keep the tail only: enough to explain a failure, bounded for long runs.
    if (log.length > 64_000) log = log.slice(-32_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (error) => {
      log += `\n[spawn error] ${error.message}`;
      exited = true;
      resolve();
    });
  });
  const managed: ManagedProcess = {
    name,
    get pid() {
      return child.pid ?? -1;
    },
    child,
    output: () => log,
    get exited() {
      return exited;
    },
    async stop(graceMs = 5_000) {
      running.delete(managed);
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      running.delete(managed);
      if (exited) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
  running.add(managed);
  return managed;
}

/** Stops every process the harness started in this worker (used in afterAll hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

process.once('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
  removeScratchDirs();
});

/** Resolves the path of a server binary, looking in the usual sbin directories too. */
export function binary(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const path = join(dir, name);
    try {
      accessSync(path);
      return path;
    } catch {
      // try the next directory
    }
  }
  return name;
}
