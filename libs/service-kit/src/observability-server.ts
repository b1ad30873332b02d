/**
 * /metrics and /health on plain `node:http`, for the processes that hold no Nest application of
 * their own: a cluster primary (its workers' metrics aggregated) and a process hosting several
 * services (each one's registry, told apart by the `service` label). A Nest application serves
 * the same two paths with ObservabilityController.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { Logger } from './logger';

/** One process's health, as a worker reports it to its primary and a host answers /health. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly checks: Record<string, boolean>;
}

export interface ObservabilitySource {
  /** The Prometheus text exposition of every series this process answers for. */
  metrics(): Promise<string>;
  /** The body of /health; its `healthy` field decides 200 or 503. */
  health(): Promise<{ healthy: boolean } & Record<string, unknown>>;
}

/** Serves /metrics and /health from `source` on host:port; resolves with the server once it listens. */
export async function serveObservability(source: ObservabilitySource, host: string, port: number, logger: Logger): Promise<{ server: Server; port: number }> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const reply = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'Content-Type': type });
      response.end(body);
    };
    void (async () => {
      if (request.method === 'GET' && request.url === '/metrics') {
        reply(200, Registry.PROMETHEUS_CONTENT_TYPE, await source.metrics());
      } else if (request.method === 'GET' && request.url === '/health') {
        const report = await source.health();
        reply(report.healthy ? 200 : 503, 'application/json', JSON.stringify(report));
      } else {
        reply(404, 'text/plain', 'not found\n');
      }
    })().catch((error: unknown) => {
      logger.warn({ err: error, url: request.url }, 'observability request failed');
      if (!response.headersSent) reply(500, 'text/plain', 'error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * The registries of the services one process hosts, as one exposition: the same metric name in
 * two of them (the process's default metrics, the config feed's) becomes one family whose series
 * differ by their `service` label, as prom-client's cluster aggregation does across workers.
 */
export async function mergedMetrics(registries: readonly Registry[]): Promise<string> {
  const families = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  return AggregatorRegistry.aggregate(families).metrics();
}

/** Several health reports as one: healthy when all are, each check named `<part>:<check>`. */
export function mergeHealth(parts: readonly { name: string; report: HealthReport }[]): HealthReport {
  const checks: Record<string, boolean> = {};
  for (const { name, report } of parts) for (const [check, ok] of Object.entries(report.checks)) checks[`${name}:${check}`] = ok;
  return { healthy: parts.every((p) => p.report.healthy), checks };
}
