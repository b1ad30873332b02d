/**
 * Runs the `postern` command line from its build output (`npm run build`) as an operator would,
 * and collects what it printed and its exit code.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const CLI = join(__dirname, '..', '..', 'apps', 'cli', 'dist', 'main.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `postern ...args` with `env` over the test's environment; never rejects on a non-zero exit. */
export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : undefined) : 0;
      if (code === undefined) return reject(new Error(`postern ${args.join(' ')} did not run: ${error?.message}`));
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `postern ...args` and leaves it running (for `--follow`). */
export function spawnCli(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
