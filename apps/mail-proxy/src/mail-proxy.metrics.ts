/**
 * The mail frontend's metrics, defined once. Labels are bounded: never a user name or an address.
 * Those every login changes are tallies (metric-tally.ts): counted as plain numbers, read by a scrape.
 */
import { Counter, LATENCY_BUCKETS_SECONDS, type Registry } from '@postern/service-kit';
import { CounterTally, GaugeTally, HistogramTally } from './metric-tally';
import type { LimitName } from './server/limits';

export type MailProtocol = 'imap' | 'pop3';
/** How a login ended. */
export type LoginOutcome = 'ok' | 'rejected' | 'not_found' | 'not_allowed' | 'throttled' | 'unavailable' | 'upstream_error' | 'aborted';

export class MailProxyMetrics {
  readonly connections: CounterTally<'protocol' | 'tls'>;
  /** The login rate: logins by protocol and outcome. */
  readonly logins: CounterTally<'protocol' | 'outcome'>;
  readonly sessions: GaugeTally<'protocol' | 'state'>;
  readonly upstreamConnect: HistogramTally<'protocol'>;
  readonly upstreamLogin: HistogramTally<'protocol'>;
  readonly lookup: HistogramTally<'source'>;
  readonly bytes: CounterTally<'protocol' | 'direction'>;
  readonly throttleDenials: Counter<'protocol' | 'reason'>;
  readonly throttleFallbacks: Counter<'kind' | 'code' | 'verdict'>;
  /**
   * Checks this proxy decided itself (`posternThrottleChecks: local`), by kind and verdict: the
   * login-throttle service's own metric, so one panel shows every check whoever decided it.
   */
  readonly throttleChecks: CounterTally<'kind' | 'verdict'>;
  /** Requests sent a second time because the first answer was late (`service`: throttle, route-lookup). */
  readonly hedges: Counter<'service'>;
  readonly limitViolations: Counter<'protocol' | 'limit'>;
  /** A client's own mistakes (bad or refused commands), by a bounded kind. */
  readonly clientErrors: Counter<'protocol' | 'kind'>;
  /** Spliced sessions the proxy ended for the account's sake: `kicked` (postern sessions kick), `inactive`, `deleted`, `moved`. */
  readonly sessionsEnded: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.sessionsEnded = new Counter({
      name: 'postern_mail_sessions_ended_total',
      help: 'Spliced sessions ended by the proxy: kicked by an operator, or the account became inactive, was deleted or moved.',
      labelNames: ['reason'],
      registers,
    });
    this.connections = new CounterTally({
      name: 'postern_mail_connections_total',
      help: 'Client connections accepted.',
      labelNames: ['protocol', 'tls'],
      registers,
    });
    this.logins = new CounterTally({
      name: 'postern_mail_logins_total',
      help: 'Login attempts by protocol and outcome.',
      labelNames: ['protocol', 'outcome'],
      registers,
    });
    this.sessions = new GaugeTally({
      name: 'postern_mail_sessions',
      help: 'Open client sessions by protocol and state (preauth, proxied).',
      labelNames: ['protocol', 'state'],
      registers,
    });
    this.upstreamConnect = new HistogramTally({
      name: 'postern_mail_upstream_connect_seconds',
      help: 'Time to connect to the mailbox server and read its greeting.',
      labelNames: ['protocol'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.upstreamLogin = new HistogramTally({
      name: 'postern_mail_upstream_login_seconds',
      help: 'Time from sending the login upstream to its tagged reply.',
      labelNames: ['protocol'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.lookup = new HistogramTally({
      name: 'postern_mail_route_lookup_seconds',
      help: 'Time to find the route (cache or lookup service).',
      labelNames: ['source'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.bytes = new CounterTally({
      name: 'postern_mail_spliced_bytes_total',
      help: 'Bytes relayed after login, by direction.',
      labelNames: ['protocol', 'direction'],
      registers,
    });
    this.throttleDenials = new Counter({
      name: 'postern_mail_throttle_denials_total',
      help: 'Connections and logins refused by the throttle.',
      labelNames: ['protocol', 'reason'],
      registers,
    });
    this.throttleFallbacks = new Counter({
      name: 'postern_mail_throttle_fallbacks_total',
      help: 'Throttle checks the service or memcached could not answer, decided by the fail mode (posternThrottleFailClosed).',
      labelNames: ['kind', 'code', 'verdict'],
      registers,
    });
    this.throttleChecks = new CounterTally({
      name: 'postern_throttle_checks_total',
      help: 'Throttle checks by kind and verdict (decided in this frontend).',
      labelNames: ['kind', 'verdict'],
      registers,
    });
    this.clientErrors = new Counter({
      name: 'postern_mail_client_errors_total',
      help: "Commands refused for the client's own mistakes (bad syntax, wrong state, no TLS).",
      labelNames: ['protocol', 'kind'],
      registers,
    });
    this.hedges = new Counter({
      name: 'postern_mail_nats_hedges_total',
      help: 'NATS requests sent once more to their queue group because the first answer was late.',
      labelNames: ['service'],
      registers,
    });
    this.limitViolations = new Counter({
      name: 'postern_mail_limit_violations_total',
      help: 'Clients that crossed a protocol limit.',
      labelNames: ['protocol', 'limit'],
      registers,
    });
  }

  limit(protocol: MailProtocol, limit: LimitName): void {
    this.limitViolations.inc({ protocol, limit });
  }
}
