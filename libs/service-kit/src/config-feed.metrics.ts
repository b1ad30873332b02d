/**
 * The config feed's metrics: which config sequence the process runs on, how old the watcher's
 * last look at the directory is, how long a change takes to apply, and what was refused.
 */
import type { ConfigFeed, ConfigFeedMetrics } from '@postern/config-store';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The feed's metrics in `registry`; `feed` is asked for the heartbeat's time at each scrape. */
export function configFeedMetrics(registry: Registry, feed: () => ConfigFeed | undefined): ConfigFeedMetrics {
  const sequence = new Gauge({
    name: 'postern_config_sequence',
    help: 'The POSTERN_CONFIG stream sequence of the newest config change this process runs on (0: none yet).',
    registers: [registry],
    // Across workers the lowest is the one that lags.
    aggregator: 'min',
  });
  new Gauge({
    name: 'postern_config_age_seconds',
    help: 'Seconds since the config-watcher last read the directory, as this process last heard (-1: never heard): how stale the config may be.',
    registers: [registry],
    aggregator: 'max',
    collect() {
      const heard = feed()?.heartbeatTime;
      this.set(heard === undefined ? -1 : Math.max(0, (Date.now() - heard.getTime()) / 1000));
    },
  });
  const applyLatency = new Histogram({
    name: 'postern_config_apply_seconds',
    help: 'From the directory change to this process applying it.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'postern_config_refused_total',
    help: 'Config values refused by this process: malformed entries, settings that do not resolve.',
    labelNames: ['reason'],
    registers: [registry],
  });
  return { sequence, applyLatency, refused };
}
