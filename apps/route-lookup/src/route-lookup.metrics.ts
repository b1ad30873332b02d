/** The route lookup service's metrics (names and label sets defined once, here). */
import { Counter, Histogram, LATENCY_BUCKETS_SECONDS, type Registry } from '@postern/service-kit';

export class RouteLookupMetrics {
  /** Lookups by protocol and outcome (ROUTE, NOT_FOUND, NOT_ALLOWED, or an error code). */
  readonly lookups: Counter<'protocol' | 'outcome'>;
  readonly duration: Histogram<'outcome'>;
  /** Shared-cache reads: hit, miss, or error (an unreachable cache counts as a miss for the client). */
  readonly cache: Counter<'result'>;
  /** Directory failures (the directory did not answer in time, or refused the query). */
  readonly directoryErrors: Counter<'kind'>;
  /** Requests refused before any work: schema violations, oversize fields, control characters. */
  readonly rejected: Counter<'reason'>;

  constructor(registry: Registry) {
    this.lookups = new Counter({
      name: 'postern_route_lookups_total',
      help: 'Route lookups by protocol and outcome.',
      labelNames: ['protocol', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'postern_route_lookup_duration_seconds',
      help: 'Time to answer a route lookup.',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.cache = new Counter({
      name: 'postern_route_cache_requests_total',
      help: 'Route cache reads by result.',
      labelNames: ['result'],
      registers: [registry],
    });
    this.directoryErrors = new Counter({
      name: 'postern_directory_errors_total',
      help: 'Directory failures by kind.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'postern_route_lookup_rejected_total',
      help: 'Route lookup requests refused as malformed.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }
}
