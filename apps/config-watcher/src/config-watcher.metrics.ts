/** The config-watcher's metrics (names and label sets defined once, here). */
import { Counter, Gauge, Histogram, type Registry } from '@postern/service-kit';

export class ConfigWatcherMetrics {
  /** Events published, by scope and kind (change, rejected, rollback); `duplicate` when the stream already had it. */
  readonly events: Counter<'scope' | 'kind' | 'stored'>;
  /** From the directory's write to the event's publication. */
  readonly publishLatency: Histogram;
  /** 1 while the last read of the directory succeeded. */
  readonly directoryUp: Gauge;
  /** Directory reads that failed. */
  readonly directoryErrors: Counter;
  /** Cached route entries deleted, and invalidations broadcast, by reason. */
  readonly invalidations: Counter<'reason'>;
  /** The newest stream sequence this watcher published or saw acknowledged. */
  readonly streamSequence: Gauge;
  /** Full reads of the config entries (at start, then periodically). */
  readonly reconciles: Counter<'result'>;
  /** Changes read from the change log, by outcome (`unchanged`: nothing in effect changed, or another watcher had applied it). */
  readonly changes: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: 'postern_config_events_total',
      help: 'Config events by scope and kind (change, rejected, rollback); stored=false when the stream already held it (another watcher).',
      labelNames: ['scope', 'kind', 'stored'],
      registers: [registry],
    });
    this.publishLatency = new Histogram({
      name: 'postern_config_publish_latency_seconds',
      help: 'From the directory write to the publication of its event.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    this.directoryUp = new Gauge({ name: 'postern_config_directory_up', help: '1 while the last read of the directory succeeded.', registers: [registry] });
    this.directoryErrors = new Counter({ name: 'postern_config_directory_errors_total', help: 'Reads of the directory that failed.', registers: [registry] });
    this.invalidations = new Counter({
      name: 'postern_config_route_invalidations_total',
      help: 'Accounts whose cached routes were dropped and broadcast, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.streamSequence = new Gauge({
      name: 'postern_config_stream_sequence',
      help: 'The newest POSTERN_CONFIG sequence this watcher published.',
      registers: [registry],
    });
    this.reconciles = new Counter({
      name: 'postern_config_reconciles_total',
      help: 'Full reads of the global config, servers and domains, by result.',
      labelNames: ['result'],
      registers: [registry],
    });
    this.changes = new Counter({
      name: 'postern_config_changes_total',
      help: 'Changes read from the directory change log, by outcome: published, rejected, unchanged (a write that changed nothing in effect, or one another watcher had applied).',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }
}
