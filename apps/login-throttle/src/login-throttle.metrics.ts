/** The login throttle's metrics (names and label sets defined once, here). Labels never hold a user name or an address. */
import { Counter, Histogram, LATENCY_BUCKETS_SECONDS, type Registry } from '@postern/service-kit';

export class LoginThrottleMetrics {
  /** Checks answered, by kind and verdict. */
  readonly checks: Counter<'kind' | 'verdict'>;
  /** Denials by reason: the contract's reasons, and `store-unavailable` for a fail-closed deny. */
  readonly denials: Counter<'reason'>;
  /** Checks memcached could not answer in time; `mode` says what the client got. */
  readonly storeErrors: Counter<'mode'>;
  readonly duration: Histogram<'kind'>;
  /** Hedged copies of a check another instance had taken: answered `DUPLICATE`, not counted. */
  readonly duplicates: Counter<'kind'>;
  /** Requests refused before any work (schema violations). */
  readonly rejected: Counter<'reason'>;
  /** SIGHUP reloads: `ok`, or `refused` when the new config was invalid and the old one stayed. */
  readonly reloads: Counter<'result'>;

  constructor(registry: Registry) {
    this.checks = new Counter({
      name: 'postern_throttle_checks_total',
      help: 'Throttle checks by kind and verdict.',
      labelNames: ['kind', 'verdict'],
      registers: [registry],
    });
    this.denials = new Counter({ name: 'postern_throttle_denials_total', help: 'Throttle denials by reason.', labelNames: ['reason'], registers: [registry] });
    this.storeErrors = new Counter({
      name: 'postern_throttle_store_errors_total',
      help: 'Checks the counter store (memcached) could not answer in time, by fail mode applied.',
      labelNames: ['mode'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'postern_throttle_check_duration_seconds',
      help: 'Time to answer a throttle check.',
      labelNames: ['kind'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.duplicates = new Counter({
      name: 'postern_throttle_duplicate_checks_total',
      help: 'Hedged copies of a check already taken by another instance (not counted again).',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'postern_throttle_rejected_total',
      help: 'Throttle requests refused as malformed.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.reloads = new Counter({
      name: 'postern_throttle_settings_reloads_total',
      help: 'Settings reloads (SIGHUP) by result.',
      labelNames: ['result'],
      registers: [registry],
    });
  }
}
