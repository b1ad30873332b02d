/** The web frontend's metrics, defined once. Labels are bounded: route kinds, status classes, mailbox servers. */
import { Counter, Gauge, Histogram, LATENCY_BUCKETS_SECONDS, type Registry } from '@postern/service-kit';

export class WebProxyMetrics {
  /** Requests by how they were routed, the status class the client got, the mailbox server (`none`: answered here) and the protocol (h1, h2, ws). */
  readonly requests: Counter<'route' | 'status' | 'upstream' | 'protocol'>;
  /** From the request's arrival to the end of its response. */
  readonly upstreamSeconds: Histogram<'route'>;
  /** Requests refused before any routing (malformed, smuggling shapes, oversized heads, too slow). */
  readonly refused: Counter<'reason'>;
  /** TLS handshakes by the certificate served: a virtual host's own, or the default. */
  readonly handshakes: Counter<'certificate'>;
  /** Upgraded connections (WebSocket) open now. */
  readonly websockets: Gauge;
  /** Each pool server's state as the health checks see it (1 in, 0 out). */
  readonly upstreamUp: Gauge<'upstream'>;
  /** Servers in each pool (`main`, `login`), and those left out for an unsupported mail mode (`refused`). */
  readonly poolServers: Gauge<'pool'>;
  /** Users' routes dropped because their server refused the connection. */
  readonly routesDropped: Counter<'reason'>;
  /** Access lines not written to the access log's file: the disk was too far behind, or a write failed. */
  readonly accessLogDropped: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'postern_web_requests_total',
      help: 'Web requests by route kind, status class, mailbox server and protocol (h1, h2, ws: an upgraded connection).',
      labelNames: ['route', 'status', 'upstream', 'protocol'],
      registers,
    });
    this.upstreamSeconds = new Histogram({
      name: 'postern_web_request_seconds',
      help: 'Web request time through the proxy, by route kind.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.refused = new Counter({
      name: 'postern_web_refused_requests_total',
      help: 'Requests refused before routing, by reason (malformed, header-overflow, timeout).',
      labelNames: ['reason'],
      registers,
    });
    this.handshakes = new Counter({
      name: 'postern_web_tls_handshakes_total',
      help: 'TLS handshakes by the certificate served (virtual-host: the SNI name has its own; default: any other name, or no SNI).',
      labelNames: ['certificate'],
      registers,
    });
    this.upstreamUp = new Gauge({
      name: 'postern_web_upstream_up',
      help: 'Pool servers in service (1) or taken out by max_fails or the active check (0).',
      labelNames: ['upstream'],
      registers,
      // Across workers: out when any worker has it out.
      aggregator: 'min',
    });
    this.poolServers = new Gauge({
      name: 'postern_web_pool_servers',
      help: 'Servers in the main and login pools, and left out for a mail mode that does not work behind this proxy (refused).',
      labelNames: ['pool'],
      registers,
      aggregator: 'max',
    });
    this.routesDropped = new Counter({
      name: 'postern_web_routes_dropped_total',
      help: "Users' memoised routes dropped: their server refused the connection (refused; also dropped from the shared cache), or the config-watcher said the account changed (invalidated).",
      labelNames: ['reason'],
      registers,
    });
    this.accessLogDropped = new Counter({
      name: 'postern_web_access_log_dropped_lines_total',
      help: "Access lines not written to the access log's file: the disk fell too far behind (behind), or a write failed (error).",
      labelNames: ['reason'],
      registers,
    });
    this.websockets = new Gauge({ name: 'postern_web_upgraded_connections', help: 'Upgraded connections (WebSocket) open now.', registers });
  }
}
