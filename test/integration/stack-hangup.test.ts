/**
 * The stack `npm start` runs (scripts/stack.ts), when its terminal closes. The servers it starts
 * are in process groups of their own (so that Ctrl-C stops them in order, not all at once), which
 * means the terminal's hangup reaches the supervisor alone. It must stop everything then, as on
 * Ctrl-C: a supervisor that died of SIGHUP left nats-server, memcached, Dovecot and Postern running
 * on the standard ports with nobody to stop them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startProcess, stopAll, waitFor } from '../harness';

const root = join(__dirname, '..', '..');
const state = mkdtempSync(join(tmpdir(), 'postern-stack-'));
const PORT_NAMES = ['nats', 'memcached', 'imap', 'imaps', 'pop3', 'pop3s', 'http', 'https'];

/** The children of `pid` (its main thread's: Node, Dovecot and nats-server fork and spawn from it). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0;) {
    const children = childrenOf(queue.shift()!);
    found.push(...children);
    queue.push(...children);
  }
  return found;
}

/** Whether `pid` is still a live process (a zombie is not: it has exited, its parent has not reaped it yet). */
function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
let started: number[] = [];

afterAll(async () => {
  // Whatever outlived a failed test is stopped here, not left on the machine.
  for (const pid of started.filter(alive)) process.kill(pid, 'SIGKILL');
  await stopAll();
  rmSync(state, { recursive: true, force: true });
});

describe('the npm start stack', () => {
  it('stops every server it started when its terminal hangs up (SIGHUP)', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, POSTERN_STACK_STATE: state, POSTERN_LOG_FORMAT: 'json' };
    for (const name of PORT_NAMES) env[`POSTERN_STACK_${name.toUpperCase()}_PORT`] = String(await freePort());
    const stack = startProcess('stack', process.execPath, ['--import', 'tsx', join('scripts', 'stack.ts')], { cwd: root, env });
    await waitFor(
      'the stack to say it is running',
      () => {
        if (stack.exited) throw new Error(`the stack exited: ${stack.output().slice(-2000)}`);
        return existsSync(join(state, 'stack.json')) && stack.output().includes('Ctrl-C stops everything');
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    started = descendants(stack.pid);
    const names = started.map((pid) => readFileSync(join('/proc', String(pid), 'comm'), 'utf8').trim());
    expect(names).toEqual(expect.arrayContaining(['nats-server', 'memcached', 'dovecot']));

    process.kill(stack.pid, 'SIGHUP');

    await waitFor('the stack to stop', () => stack.exited, { timeoutMs: 45_000, intervalMs: 100 });
    await waitFor('every server it started to be gone', () => started.every((pid) => !alive(pid)), { timeoutMs: 15_000, intervalMs: 100 });
    expect(started.filter(alive)).toEqual([]);
  }, 180_000);
});
