/**
 * Starts a real Prometheus (Debian's) on an ephemeral loopback port, scraping the given targets
 * every second and evaluating the project's rules (deploy/prometheus/rules.yml) every second;
 * ready once `/-/ready` answers. `query` runs an instant PromQL query through its HTTP API.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binary, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

const RULES = join(__dirname, '..', '..', 'deploy', 'prometheus', 'rules.yml');

export interface PrometheusServer {
  readonly url: string;
  readonly process: ManagedProcess;
  /** An instant query; the result vector (rejects on a query error). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

/** `jobs`: job name → `host:port` targets of /metrics. */
export async function startPrometheus(jobs: Readonly<Record<string, readonly string[]>>): Promise<PrometheusServer> {
  const dir = await scratchDir('prometheus');
  copyFileSync(RULES, join(dir, 'rules.yml'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'rule_files: [rules.yml]',
    'scrape_configs:',
    ...Object.entries(jobs).flatMap(([job, targets]) => [
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    ]),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess('prometheus', binary('prometheus'), [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  proc.child.once('exit', () => void removeDir(dir));
  await waitFor('prometheus ready', async () => {
    if (proc.exited) throw new Error(`prometheus exited: ${proc.output()}`);
    return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
  });
  return {
    url,
    process: proc,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? response.status}`);
      if (body.data?.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
      return body.data?.result as { metric: Record<string, string>; value: [number, string] }[];
    },
  };
}
