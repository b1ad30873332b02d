/**
 * The mail proxy as a primary and two workers (POSTERN_WORKERS=2) sharing the listeners: logins
 * through the shared ports, one service's worth of metrics from the primary, SIGHUP reaching every
 * worker, a dead worker replaced, a worker that cannot start failing the start, and a stop that
 * takes the workers with it. Real Dovecot, slapd, route-lookup, memcached and NATS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_PASSWORDS,
  directoryEnv,
  directoryLdifFor,
  LineClient,
  PATIENT_BUDGETS,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startProcess,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type MailProxyProcess,
} from '../harness';

const ATTRIBUTES = {
  ...PATIENT_BUDGETS,
  zimbraReverseProxySSLToUpstreamEnabled: false,
  zimbraReverseProxyImapStartTlsMode: 'off',
  zimbraReverseProxyPop3StartTlsMode: 'off',
  zimbraReverseProxyMailMode: 'http',
};

let dir: string;
let common: Record<string, string>;
let proxy: MailProxyProcess;

beforeAll(async () => {
  dir = await scratchDir('mail-workers');
  const upstreams = await startMailboxServers();
  const [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: directoryLdifFor(upstreams) })]);
  common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_THROTTLE_ENABLED: 'false' };
  [, proxy] = await Promise.all([
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startMailProxy(dir, 'proxy', { ...common, POSTERN_WORKERS: '2' }, ATTRIBUTES),
  ]);
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

/** The JSON log lines the process wrote so far with message `msg`. */
function logLines(msg: string): Record<string, unknown>[] {
  return proxy.service.process
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg);
}

async function imapLogin(tag: string): Promise<string> {
  const client = await LineClient.connect({ port: proxy.imap });
  expect(await client.line()).toMatch(/^\* OK/);
  client.send(`${tag} LOGIN alice@example.com ${DEMO_PASSWORDS['alice@example.com']}\r\n`);
  const reply = (await client.until(`${tag} `)).at(-1)!;
  client.close();
  return reply;
}

/** The pids of the workers that said they were ready, by worker index (the newest per index). */
function workerPids(): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of logLines('worker ready')) if (typeof line.workerPid === 'number') pids.set(line.worker as number, line.workerPid);
  return pids;
}

describe('mail-proxy with a worker per core', () => {
  it('starts two workers behind one primary, and both serve logins on the shared ports', async () => {
    expect(workerPids().size).toBe(2);
    expect(new Set(workerPids().values()).size).toBe(2);
    expect(await proxy.service.metric('postern_workers')).toBe(2);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => imapLogin(`w${i}`)));
    expect(replies.every((reply) => /^w\d+ OK/.test(reply))).toBe(true);
  });

  it('reports one service worth of metrics: the workers counts summed', async () => {
    const before = await proxy.service.metric('postern_mail_logins_total', { protocol: 'imap', outcome: 'ok' });
    for (let i = 0; i < 6; i++) expect(await imapLogin(`m${i}`)).toMatch(/^m\d OK/);
    expect(await proxy.service.metric('postern_mail_logins_total', { protocol: 'imap', outcome: 'ok' })).toBe(before + 6);
    // One series per label set, whatever the number of workers.
    const text = await (await fetch(`http://127.0.0.1:${proxy.service.httpPort}/metrics`)).text();
    expect(
      text.split('\n').filter((line) => line.startsWith('postern_mail_logins_total{') && line.includes('outcome="ok"') && line.includes('protocol="imap"')),
    ).toHaveLength(1);
  });

  it('passes SIGHUP to every worker', async () => {
    const before = logLines('settings reloaded').length;
    proxy.service.process.child.kill('SIGHUP');
    await waitFor('both workers reloaded', () => logLines('settings reloaded').length >= before + 2, { timeoutMs: 30_000 });
    const reloaded = logLines('settings reloaded').slice(before);
    expect(new Set(reloaded.map((line) => line.worker))).toEqual(new Set([0, 1]));
  });

  it('replaces a worker that dies, and keeps serving', async () => {
    const victim = workerPids().get(0)!;
    process.kill(victim, 'SIGKILL');
    await waitFor('a replacement worker', () => workerPids().get(0) !== victim && workerPids().has(0), { timeoutMs: 30_000 });
    await waitFor('healthy again', async () => (await fetch(`http://127.0.0.1:${proxy.service.httpPort}/health`)).status === 200, { timeoutMs: 30_000 });
    expect(await proxy.service.metric('postern_worker_restarts_total')).toBe(1);
    expect(await proxy.service.metric('postern_workers')).toBe(2);
    expect(logLines('worker died; starting another')).toEqual([expect.objectContaining({ worker: 0, workerPid: victim, signal: 'SIGKILL' })]);
    expect(await imapLogin('after')).toMatch(/^after OK/);
  });

  it('fails the start with the exit code of a worker that cannot start (78 for a bad setting)', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ attributes: { ...ATTRIBUTES, zimbraImapProxyBindPort: 'not a port' } }));
    const bad = startProcess('mail-proxy-bad', process.execPath, [join(__dirname, '..', '..', 'apps', 'mail-proxy', 'dist', 'main.js')], {
      env: { ...process.env, ...common, POSTERN_WORKERS: '2', POSTERN_CONFIG_FILE: file, POSTERN_HTTP_PORT: '0' },
    });
    const code = await new Promise<number | null>((resolve) => (bad.exited ? resolve(bad.child.exitCode) : bad.child.once('exit', (c) => resolve(c))));
    expect(code).toBe(78);
    expect(bad.output()).toMatch(/zimbraImapProxyBindPort/);
  });

  it('stops its workers with it on SIGTERM', async () => {
    const pids = [...workerPids().values()];
    await proxy.service.stop();
    expect(proxy.service.process.child.exitCode).toBe(0);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(pids.filter(alive)).toEqual([]);
  });
});
