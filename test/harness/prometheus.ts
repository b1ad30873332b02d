/**
 * Starts a real Prometheus (Debian's) on an ephemeral loopback port, scraping the given targets
 * every second and evaluating the project's rules (deploy/prometheus/rules.yml) every second;
 * ready once `/-/ready` answers. `query` runs an instant PromQL query through its HTTP API.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
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

const DASHBOARD = join(__dirname, '..', '..', 'deploy', 'grafana', 'postern.json');

/** One query of the Grafana dashboard (deploy/grafana/postern.json), with Grafana's `$__rate_interval` as 1m. */
export interface PanelQuery {
  readonly panel: string;
  readonly expr: string;
}

/** The dashboard's uid and every panel's every query. */
export function dashboardQueries(): { uid: string; queries: PanelQuery[] } {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: { title: string; targets: { expr: string }[] }[] };
  const queries = dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m') })),
  );
  return { uid: dashboard.uid, queries };
}

/**
 * Polls `prometheus` until every panel of the dashboard has data (a panel has data when one of its
 * queries returns a series), every one but those `optional` (they are not waited for), or
 * `timeoutMs` passes; returns the titles of the panels still without, optional ones included.
 */
export async function panelsWithoutData(prometheus: PrometheusServer, timeoutMs: number, optional: readonly string[] = []): Promise<string[]> {
  const { queries } = dashboardQueries();
  const empty = new Set(queries.map((q) => q.panel));
  await waitFor(
    'every panel to have data',
    async () => {
      for (const query of queries) if (empty.has(query.panel) && (await prometheus.query(query.expr)).length > 0) empty.delete(query.panel);
      return [...empty].every((panel) => optional.includes(panel));
    },
    { timeoutMs, intervalMs: 1000 },
  ).catch(() => undefined);
  return [...empty];
}
