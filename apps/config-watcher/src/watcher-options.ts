/** The watcher's own options, from the environment (the rest is the bootstrap config every service reads). */
import { ConfigError } from '@postern/config';

export interface WatcherOptions {
  /** `auto` (default): the LDIF file when that is the directory, else accesslog when the directory has one, else poll. */
  readonly source: 'auto' | 'accesslog' | 'poll' | 'ldif';
  /** The accesslog database's suffix (`POSTERN_ACCESSLOG_BASE`, default `cn=accesslog`). */
  readonly accesslogBase: string;
  /** Between two reads of the change log (`POSTERN_WATCH_INTERVAL_MS`, default 250). */
  readonly intervalMs: number;
  /** Between two full reads of the config entries (`POSTERN_RECONCILE_INTERVAL_MS`, default 300000). */
  readonly reconcileIntervalMs: number;
  /** The longest wait between attempts while the directory or NATS is down (`POSTERN_WATCH_MAX_BACKOFF_MS`, default 30000). */
  readonly maxBackoffMs: number;
  /** JetStream replicas of the stream and the bucket when the watcher creates them (`POSTERN_CONFIG_REPLICAS`, default 1; 3 on a three-server cluster). */
  readonly replicas: number;
}

const SOURCES = ['auto', 'accesslog', 'poll', 'ldif'] as const;

export function loadWatcherOptions(env: Readonly<Record<string, string | undefined>> = process.env): WatcherOptions {
  const problems: Error[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    problems.push(new Error(`${name}: invalid value ${JSON.stringify(text)}; accepted: an integer from ${min} to ${max}`));
    return fallback;
  };
  const source = env.POSTERN_WATCH_SOURCE || 'auto';
  if (!(SOURCES as readonly string[]).includes(source))
    problems.push(new Error(`POSTERN_WATCH_SOURCE: invalid value ${JSON.stringify(source)}; accepted: ${SOURCES.join(', ')}`));
  const options: WatcherOptions = {
    source: source as WatcherOptions['source'],
    accesslogBase: env.POSTERN_ACCESSLOG_BASE || 'cn=accesslog',
    intervalMs: int('POSTERN_WATCH_INTERVAL_MS', 250, 10, 600_000),
    reconcileIntervalMs: int('POSTERN_RECONCILE_INTERVAL_MS', 300_000, 1_000, 86_400_000),
    maxBackoffMs: int('POSTERN_WATCH_MAX_BACKOFF_MS', 30_000, 100, 600_000),
    replicas: int('POSTERN_CONFIG_REPLICAS', 1, 1, 5),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}
