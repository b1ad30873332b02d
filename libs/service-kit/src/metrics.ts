/**
 * Metrics registry. Every metric is `postern_`-prefixed, with `_total` / `_seconds` / `_bytes`
 * suffixes and bounded labels (never a user name or an IP).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` refuses them). `postern_nodejs_active_resources{type}` says the same.
 */
const MISNAMED_DEFAULTS = ['postern_nodejs_active_handles_total', 'postern_nodejs_active_requests_total', 'postern_nodejs_active_resources_total'];

/** A registry with the process's default metrics and a `service` label on every series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'postern_' });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

/** Latency buckets (seconds) for in-process and loopback work: 0.1 ms up to 15 s (the lookup timeout). */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15];
