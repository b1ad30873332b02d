/**
 * Starts a real HAProxy (Debian's) in the foreground (`-db`) with a configuration the caller
 * writes, in a scratch directory; ready once it runs and every listener accepts a connection.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binary, canConnect, startProcess, waitFor, type ManagedProcess } from './process';

// HAProxy starts in milliseconds; the deadline only turns a wedged start into an error.
const START_TIMEOUT_MS = 15_000;

/** Starts HAProxy with `config` (haproxy.cfg text) written to `dir`, once `ports` on 127.0.0.1 accept. */
export async function startHaproxy(dir: string, name: string, config: string, ports: readonly number[]): Promise<ManagedProcess> {
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, config);
  const haproxy = startProcess(name, binary('haproxy'), ['-f', file, '-db']);
  await waitFor(
    name,
    async () => {
      if (haproxy.exited) throw new Error(`${name} exited: ${haproxy.output()}`);
      return (await Promise.all(ports.map((port) => canConnect('127.0.0.1', port)))).every(Boolean);
    },
    { timeoutMs: START_TIMEOUT_MS },
  );
  return haproxy;
}

/**
 * The start of a test configuration: one thread (so it is measured against one nginx worker) and
 * defaults of `mode` with the given connect timeout and 60 s client and server timeouts.
 */
export function haproxyPreamble(mode: 'tcp' | 'http', connectTimeout = '5s'): string[] {
  return ['global', '  nbthread 1', 'defaults', `  mode ${mode}`, `  timeout connect ${connectTimeout}`, '  timeout client 60s', '  timeout server 60s'];
}
