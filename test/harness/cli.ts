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

/**
 * Runs `postern ...args` on a pseudo-terminal (util-linux `script`), as an operator at a shell: once
 * `prompt` appears in its output, `answer` is typed. Resolves with everything it printed and its exit code.
 */
export function runCliOnTerminal(
  args: readonly string[],
  env: Record<string, string>,
  prompt: string,
  answer: string,
): Promise<{ code: number; output: string }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!answered && output.includes(prompt)) {
        answered = true;
        child.stdin.write(`${answer}\r`);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code: code ?? -1, output });
    });
  });
}
