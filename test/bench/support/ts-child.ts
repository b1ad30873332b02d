/**
 * Runs a bench helper (a TypeScript file with a server in it) as its own Node process through tsx,
 * with the harness's process tracking: stopped by stopAll(), killed when the bench exits.
 *
 * The helper listens on a port the kernel picks and announces it on stdout as `ready <port>`;
 * readiness is that line, polled with a deadline.
 */
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../../harness/process';

const REPO_ROOT = join(__dirname, '..', '..', '..');
// tsx compiles the helper at start (esbuild, well under a second); the cap turns a hang into an error.
const START_TIMEOUT_MS = 30_000;

export interface TsChild {
  readonly process: ManagedProcess;
  /** The port the helper announced. */
  readonly port: number;
  stop(): Promise<void>;
}

/** `nodeArgs`: options for Node itself, before the script (`--cpu-prof`, …). */
export async function startTsChild(name: string, script: string, args: readonly string[], nodeArgs: readonly string[] = []): Promise<TsChild> {
  // `--import tsx` (not the tsx CLI): one process, so its pid is the helper's own.
  const proc = startProcess(name, process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], { cwd: REPO_ROOT });
  let port = 0;
  try {
    await waitFor(
      `${name} to announce its port`,
      async () => {
        const ready = /^ready (\d+)$/m.exec(proc.output());
        if (ready) port = Number(ready[1]);
        else if (proc.exited) throw new Error(`${name} exited: ${proc.output()}`);
        return ready !== null;
      },
      { timeoutMs: START_TIMEOUT_MS },
    );
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { process: proc, port, stop: () => proc.stop() };
}

/** For the helper's side: announce the port, and leave at once on SIGTERM/SIGINT (no drain to wait for). */
export function announceReady(port: number): void {
  process.stdout.write(`ready ${port}\n`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
}
