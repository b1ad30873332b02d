/**
 * What Prometheus gets from Postern: the scrape config and the rules pass promtool's checks, the
 * rules' unit tests pass (`promtool test rules`), and every service's /metrics passes
 * `promtool check metrics` (Debian's prometheus package). Real services, real promtool.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  freePort,
  makeCertificate,
  removeDir,
  scratchDir,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type ServiceProcess,
} from '../harness';

const run = promisify(execFile);
const PROMETHEUS_DIR = join(__dirname, '..', '..', 'deploy', 'prometheus');

let dir: string;
const services: ServiceProcess[] = [];

/** Runs `promtool check metrics` on `text`; its exit code and what it said. */
function checkMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

beforeAll(async () => {
  dir = await scratchDir('prometheus');
  const [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd()]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  const cert = await makeCertificate({ commonName: 'localhost', altNames: ['localhost'] });
  const tls = { POSTERN_TLS_CERT_FILE: cert.certFile, POSTERN_TLS_KEY_FILE: cert.keyFile };
  const webPort = await freePort();
  services.push(
    ...(await Promise.all([
      startService('config-watcher', { ...common, ...directoryEnv(slapd) }),
      startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
      startService('login-throttle', common),
      startService('web-proxy', { ...common, ...tls, POSTERN_BIND_HOST: '127.0.0.1', POSTERN_CONFIG_FILE: await webConfig(webPort) }),
    ])),
  );
  services.push((await startMailProxy(dir, 'mail-proxy', { ...common, ...tls }, {})).service);
  // A mail proxy with a worker per core: its primary aggregates the workers' series.
  services.push((await startMailProxy(dir, 'mail-proxy-workers', { ...common, ...tls, POSTERN_WORKERS: '2' }, {})).service);
});

async function webConfig(port: number): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const file = join(dir, 'web-proxy.json');
  await writeFile(
    file,
    JSON.stringify({ attributes: { zimbraMailProxyPort: port, zimbraMailSSLProxyPort: await freePort(), zimbraReverseProxySSLToUpstreamEnabled: false } }),
  );
  return file;
}

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('Prometheus', () => {
  it('the scrape config and the rules pass promtool, and the rules pass their unit tests', async () => {
    await run('promtool', ['check', 'config', 'postern.yml'], { cwd: PROMETHEUS_DIR });
    await run('promtool', ['check', 'rules', 'rules.yml'], { cwd: PROMETHEUS_DIR });
    const tested = await run('promtool', ['test', 'rules', 'rules.test.yml'], { cwd: PROMETHEUS_DIR });
    expect(tested.stdout).toContain('SUCCESS');
  });

  it("every service's /metrics passes promtool check metrics", async () => {
    for (const service of services) {
      const url = `http://127.0.0.1:${service.httpPort}/metrics`;
      let text = '';
      await waitFor(`${service.name} metrics`, async () => {
        text = await (await fetch(url)).text();
        return text.includes('postern_config_sequence');
      });
      const checked = await checkMetrics(text);
      expect({ service: service.name, ...checked }).toEqual({ service: service.name, code: 0, output: '' });
    }
  });
});
