/**
 * Metrics registry. Every metric is `postern_`-prefixed, with `_total` / `_seconds` / `_bytes`
 * suffixes and bounded labels (never a user name or an IP).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A registry with the process's default metrics and a `service` label on every series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'postern_' });
  return registry;
}

/** Latency buckets (seconds) for in-process and loopback work: 0.1 ms up to 15 s (the lookup timeout). */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15];
