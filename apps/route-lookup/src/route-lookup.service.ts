/**
 * Serves `postern.route.lookup.v1` in the `route-lookup` queue group: every instance shares the
 * load, and on shutdown the subscription is drained so no accepted request is lost.
 */
import { Inject, Injectable, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { ErrorCode, PosternError, RouteLookupContract, type RouteLookupRequest, type RouteLookupResult } from '@postern/contracts';
import { Deadline, LOGGER, NATS_CONNECTION, shortId, startResponderService, type Logger, type NatsConnection, type RunningResponder } from '@postern/service-kit';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteLookupRuntime } from './route-lookup.runtime';
import type { ResolutionTrace } from './route-resolver';

@Injectable()
export class RouteLookupService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private serving: RunningResponder | undefined;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly runtime: RouteLookupRuntime,
    private readonly metrics: RouteLookupMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.serving = startResponderService({
      nc: this.nc,
      contract: RouteLookupContract,
      handler: (request) => this.lookup(request),
      logger: this.logger,
      serving: 'route lookups',
      onBadRequest: () => this.metrics.rejected.inc({ reason: 'bad_request' }),
      onHangup: () => void this.runtime.reload(),
      close: () => this.runtime.close(),
    });
  }

  /** Answers the requests already received, then closes NATS and the directory. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.serving?.stop();
  }

  /** Resolves one request within its deadline; every outcome is counted and logged without secrets. */
  async lookup(request: RouteLookupRequest): Promise<RouteLookupResult> {
    const started = performance.now();
    // Log fields, not a child logger: most lookups log nothing, and a child per request costs.
    const ctx = { rid: request.requestId ?? shortId(), protocol: request.protocol };
    const settings = this.runtime.settings;
    const budget = Math.min(request.deadlineMs ?? Number.POSITIVE_INFINITY, settings.zimbraReverseProxyRouteLookupTimeout);
    const deadline = new Deadline(budget);
    const trace: ResolutionTrace = { cache: 'off' };
    let outcome: string;
    try {
      const result = await deadline.run('route lookup', this.runtime.resolver.resolve(request, trace));
      outcome = result.outcome;
      if (this.logger.isLevelEnabled('debug')) this.logger.debug({ ...ctx, outcome, source: result.outcome === 'ROUTE' ? result.source : undefined }, 'lookup answered');
      return result;
    } catch (error) {
      const typed =
        error instanceof PosternError
          ? error
          : new PosternError(ErrorCode.Internal, 'internal error', { cause: error });
      if (typed.code === ErrorCode.Timeout) {
        // The requester sees a temporary failure, like a directory outage.
        outcome = ErrorCode.Unavailable;
        this.metrics.directoryErrors.inc({ kind: 'timeout' });
        this.logger.warn({ ...ctx, budgetMs: budget }, 'lookup timed out');
        throw new PosternError(ErrorCode.Unavailable, 'route lookup timed out', { cause: typed, retryAfterMs: settings.zimbraReverseProxyAuthWaitInterval });
      }
      outcome = typed.code;
      if (typed.code === ErrorCode.Unavailable) {
        this.metrics.directoryErrors.inc({ kind: 'unavailable' });
        this.logger.warn({ ...ctx, err: typed.cause ?? typed }, 'directory unavailable');
      } else {
        this.logger.error({ ...ctx, err: error }, 'lookup failed');
      }
      throw typed;
    } finally {
      if (trace.cache !== 'off') this.metrics.cache.inc({ result: trace.cache });
      this.metrics.lookups.inc({ protocol: request.protocol, outcome: outcome! });
      this.metrics.duration.observe({ outcome: outcome! }, (performance.now() - started) / 1000);
    }
  }
}
