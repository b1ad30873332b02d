/**
 * The console a person reads: a service whose standard output is a terminal prints its lines as
 * text (time, service, level coloured, message, key=value fields); on a pipe, or when
 * POSTERN_LOG_FORMAT=json asks, it prints JSON for log shippers. The terminal is a real
 * pseudo-terminal: util-linux `script` runs the service on one.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startMemcached, startNats, startProcess, stopAll, waitFor, type ManagedProcess, type MemcachedServer, type NatsServer } from '../harness';

const root = join(__dirname, '..', '..');
const main = join(root, 'apps', 'login-throttle', 'dist', 'main.js');

let nats: NatsServer;
let memcached: MemcachedServer;

beforeAll(async () => {
  [nats, memcached] = await Promise.all([startNats(), startMemcached()]);
});

afterAll(async () => {
  await stopAll();
});

/** The login throttle, on a terminal or not, until it says it is connected; its output so far, then stopped. */
async function throttleOutput(options: { terminal: boolean; format?: string }): Promise<string> {
  const httpPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    POSTERN_HTTP_HOST: '127.0.0.1',
    POSTERN_HTTP_PORT: String(httpPort),
    POSTERN_LOG_LEVEL: 'info',
    POSTERN_WORKERS: '1',
  };
  delete env.POSTERN_LOG_FORMAT;
  if (options.format) env.POSTERN_LOG_FORMAT = options.format;
  // `exec`: the shell script(1) starts becomes the service, so the service is script's one child.
  const proc = options.terminal
    ? startProcess('login-throttle (terminal)', 'script', ['-qfec', `exec '${process.execPath}' '${main}'`, '/dev/null'], { env })
    : startProcess('login-throttle', process.execPath, [main], { env });
  try {
    await waitFor('login-throttle to serve', async () => {
      if (proc.exited) throw new Error(`login-throttle exited: ${proc.output()}`);
      const response = await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => undefined);
      return response?.status === 200 && proc.output().includes('connected to nats');
    });
    return proc.output().replaceAll('\r\n', '\n');
  } finally {
    await stopService(proc, options.terminal);
  }
}

/** Stops the service: under script(1), the service itself (closing the terminal would only send it SIGHUP, a reload). */
async function stopService(proc: ManagedProcess, terminal: boolean): Promise<void> {
  if (terminal && !proc.exited) {
    const service = Number(
      execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    if (service > 0) process.kill(service, 'SIGTERM');
  }
  await proc.stop(15_000);
}

function linesOf(output: string): string[] {
  return output.split('\n').filter((line) => line.length > 0);
}

describe('the console', () => {
  it('is text on a terminal: time, service, coloured level, message, key=value fields', async () => {
    const lines = linesOf(await throttleOutput({ terminal: true }));
    const connected = lines.find((line) => line.includes('connected to nats'));
    expect(connected).toMatch(/^\d\d:\d\d:\d\d\.\d{3} login-throttle \x1b\[32mINFO \x1b\[0m connected to nats servers=nats:\/\/127\.0\.0\.1:\d+$/);
    // Every line is the service's, as text: none is JSON.
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    expect(lines.every((line) => /^\d\d:\d\d:\d\d\.\d{3} login-throttle /.test(line) || line.startsWith('    '))).toBe(true);
  });

  it('is JSON on a pipe', async () => {
    const lines = linesOf(await throttleOutput({ terminal: false }));
    const records = lines.map((line) => JSON.parse(line) as { service: string; level: number; msg: string; servers?: string[] });
    const connected = records.find((record) => record.msg === 'connected to nats');
    expect(connected).toMatchObject({ service: 'login-throttle', level: 30, servers: [nats.url] });
  });

  it('is JSON on a terminal when POSTERN_LOG_FORMAT=json asks', async () => {
    const lines = linesOf(await throttleOutput({ terminal: true, format: 'json' }));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'login-throttle' });
  });

  it('is text on a pipe when POSTERN_LOG_FORMAT=text asks, without colour', async () => {
    const lines = linesOf(await throttleOutput({ terminal: false, format: 'text' }));
    expect(lines.find((line) => line.includes('connected to nats'))).toMatch(/^\d\d:\d\d:\d\d\.\d{3} login-throttle INFO {2}connected to nats servers=/);
    expect(lines.some((line) => line.includes('\x1b['))).toBe(false);
  });
});
