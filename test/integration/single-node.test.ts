/**
 * The single-node mode (apps/single-node), as `npm start` runs it (test/harness/single-node.ts):
 * every service in one process tree, a primary and two workers. It serves an IMAPS login and a
 * web request, answers the route lookup, throttle and config contracts over NATS as the separate
 * services do, names every service in /health and /metrics, and its cluster primary — like a
 * frontend's own — loads no Nest while its workers do. Real NATS/JetStream, memcached and Dovecot.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RouteLookupContract, ThrottleCheckContract } from '@postern/contracts';
import { ConfigStore } from '@postern/config-store';
import { requestReply } from '@postern/service-kit/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_PASSWORDS,
  LineClient,
  removeDir,
  scratchDir,
  SINGLE_NODE_OPTIONS,
  startMailProxy,
  startStack,
  stopAll,
  sumSeries,
  waitFor,
  type Stack,
} from '../harness';

const PROBE = `--import ${pathToFileURL(join(__dirname, '..', 'harness', 'loaded-modules-probe.mjs')).href}`;

let dir: string;
let probes: string;
let stack: Stack;
let nc: NatsConnection;

beforeAll(async () => {
  dir = await scratchDir('single-node');
  probes = await scratchDir('single-node-probes');
  stack = await startStack({
    state: dir,
    workers: '2',
    nodeOptions: `${SINGLE_NODE_OPTIONS} ${PROBE}`,
    env: { POSTERN_TEST_PROBE_DIR: probes },
  });
  nc = await connect({ servers: stack.nats.url });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await stopAll();
  for (const d of [dir, probes]) if (d) await removeDir(d);
});

/** The pids of `pid`'s children (a primary's workers). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

interface ProbeReport {
  readonly primary: boolean;
  readonly nestModules: number;
  readonly reflectMetadata: boolean;
}

/** Asks `pid` (a process started with the probe) what it has loaded. */
async function probe(pid: number): Promise<ProbeReport> {
  process.kill(pid, 'SIGUSR2');
  const file = join(probes, `${pid}.json`);
  let report: ProbeReport | undefined;
  await waitFor(`probe of ${pid}`, async () => {
    report = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as ProbeReport)
      .catch(() => undefined);
    return report !== undefined;
  });
  return report!;
}

describe('the single-node process', () => {
  it('serves an IMAPS login, proxied to the account mailbox server', async () => {
    const ca = await readFile(stack.caFile, 'utf8');
    const client = await LineClient.connect({ port: stack.ports.imaps, tls: true, ca, servername: 'localhost' });
    expect(await client.line()).toMatch(/^\* OK/);
    client.send(`a LOGIN bob@example.com ${DEMO_PASSWORDS['bob@example.com']}\r\n`);
    expect((await client.until('a ')).at(-1)).toMatch(/^a OK/);
    client.send('b SELECT INBOX\r\n');
    const selected = await client.until('b ');
    expect(selected.at(-1)).toMatch(/^b OK/);
    expect(selected).toContain('* 1 EXISTS');
    client.close();
  });

  it('serves a web request, routed by the user in its path', async () => {
    const response = await fetch(`http://127.0.0.1:${stack.ports.http}/home/bob@example.com/Inbox`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { server: string }).server).toBe('mbox2');
  });

  it('answers the route lookup contract over NATS from the directory', async () => {
    const result = await requestReply(nc, RouteLookupContract, { by: 'name', protocol: 'imap', clientIp: '192.0.2.50', user: 'carol@example.org' }, 5_000);
    expect(result).toMatchObject({ outcome: 'ROUTE', route: { host: stack.mailboxes.mbox2.host, port: stack.mailboxes.mbox2.imapPort } });
    const missing = await requestReply(nc, RouteLookupContract, { by: 'name', protocol: 'imap', clientIp: '192.0.2.50', user: 'nobody@example.com' }, 5_000);
    expect(missing.outcome).toBe('NOT_FOUND');
  });

  it('answers the throttle contract over NATS', async () => {
    const result = await requestReply(nc, ThrottleCheckContract, { kind: 'connect', protocol: 'imap', clientIp: '192.0.2.51' }, 5_000);
    expect(result).toEqual({ verdict: 'allow' });
  });

  it('keeps the effective config in the config bucket, from the directory it watches', async () => {
    const store = await ConfigStore.open(nc, { create: false });
    const global = await store.entry('global');
    expect(global).toMatchObject({ scope: 'global', attributes: expect.objectContaining({ zimbraDefaultDomainName: ['example.com'] }) as unknown });
    expect(await store.heartbeat()).toBeDefined();
  });

  it('names every service it hosts in /health and /metrics', async () => {
    const base = `http://127.0.0.1:${stack.node.httpPort}`;
    const health = (await (await fetch(`${base}/health`)).json()) as { healthy: boolean; workers: { checks: Record<string, boolean> }[] };
    expect(health.healthy).toBe(true);
    expect(health.workers).toHaveLength(2);
    expect(Object.keys(health.workers[0]!.checks)).toEqual(
      expect.arrayContaining(['config-watcher:nats', 'route-lookup:nats', 'login-throttle:nats', 'mail-proxy:listeners', 'web-proxy:listeners']),
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const service of ['config-watcher', 'route-lookup', 'login-throttle', 'mail-proxy', 'web-proxy']) {
      expect(sumSeries(metrics, 'postern_process_resident_memory_bytes', { service }), service).toBeGreaterThan(0);
    }
    expect(sumSeries(metrics, 'postern_workers', { service: 'single-node' })).toBe(2);
  });
});

describe('cluster primaries', () => {
  it('the single-node primary loads no Nest; its workers do', async () => {
    const primary = stack.node.process.pid;
    expect(await probe(primary)).toMatchObject({ primary: true, nestModules: 0, reflectMetadata: false });
    const workers = await childrenOf(primary);
    expect(workers).toHaveLength(2);
    for (const worker of workers) {
      const report = await probe(worker);
      expect(report.primary).toBe(false);
      expect(report.nestModules).toBeGreaterThan(0);
      expect(report.reflectMetadata).toBe(true);
    }
  });

  it("a frontend's own primary (mail-proxy, two workers) loads no Nest either", async () => {
    const proxy = await startMailProxy(
      dir,
      'mail-proxy-alone',
      {
        POSTERN_NATS_URLS: stack.nats.url,
        POSTERN_MEMCACHED_SERVERS: stack.memcached.address,
        POSTERN_WORKERS: '2',
        NODE_OPTIONS: PROBE,
        POSTERN_TEST_PROBE_DIR: probes,
      },
      {
        zimbraReverseProxyImapStartTlsMode: 'off',
        zimbraReverseProxyPop3StartTlsMode: 'off',
        zimbraReverseProxySSLToUpstreamEnabled: false,
        zimbraReverseProxyMailMode: 'http',
      },
    );
    expect(await probe(proxy.service.process.pid)).toMatchObject({ primary: true, nestModules: 0, reflectMetadata: false });
    const [worker] = await childrenOf(proxy.service.process.pid);
    expect((await probe(worker!)).nestModules).toBeGreaterThan(0);
    await proxy.service.stop();
  });
});

describe('the single-node process with one worker', () => {
  it('serves everything from one process, its own /metrics and /health, and stops the frontends first', async () => {
    const state = await scratchDir('single-node-one');
    try {
      const one = await startStack({ state, workers: '1' });
      expect(await childrenOf(one.node.process.pid)).toEqual([]);
      const response = await fetch(`http://127.0.0.1:${one.ports.http}/home/alice@example.com/Inbox`);
      expect(((await response.json()) as { server: string }).server).toBe('mbox1');
      const health = (await (await fetch(`http://127.0.0.1:${one.node.httpPort}/health`)).json()) as { healthy: boolean; checks: Record<string, boolean> };
      expect(health.healthy).toBe(true);
      expect(Object.keys(health.checks)).toEqual(expect.arrayContaining(['config-watcher:nats', 'mail-proxy:listeners', 'web-proxy:listeners']));
      await one.stop();
      const stopped = one.node.process
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"stopped"'))
        .map((line) => (JSON.parse(line) as { service: string }).service);
      // Every service ran its ordered stop, the frontends before the services they ask, the host last.
      expect(stopped.slice(0, 2).sort()).toEqual(['mail-proxy', 'web-proxy']);
      expect(stopped.slice(2)).toEqual(['login-throttle', 'route-lookup', 'config-watcher', 'single-node']);
    } finally {
      await removeDir(state);
    }
  });
});
