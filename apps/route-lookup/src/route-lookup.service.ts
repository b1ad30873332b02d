/**
 * Serves `postern.route.lookup.v1` in the `route-lookup` queue group: every instance shares the
 * load, and on shutdown the subscription is drained so no accepted request is lost.
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ErrorCode, PosternError, RouteLookupContract, type RouteLookupRequest, type RouteLookupResult } from '@postern/contracts';
import { Deadline, LOGGER, Responders, ServiceSettings, shortId, type Logger } from '@postern/service-kit';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteResolution } from './route-resolution';
import type { ResolutionTrace } from './route-resolver';

@Injectable()
export class RouteLookupService implements OnApplicationBootstrap {
  constructor(
    private readonly responders: Responders,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly settings: ServiceSettings,
    private readonly resolution: RouteResolution,
    private readonly metrics: RouteLookupMetrics,
  ) {}

  /** Serves lookups once every provider is ready; the service kit drains them on shutdown. */
  onApplicationBootstrap(): void {
    this.responders.serve(RouteLookupContract, (request) => this.lookup(request), {
      serving: 'route lookups',
      onBadRequest: () => this.metrics.rejected.inc({ reason: 'bad_request' }),
    });
  }

  /** Resolves one request within its deadline; every outcome is counted and logged without secrets. */
  async lookup(request: RouteLookupRequest): Promise<RouteLookupResult> {
    const started = performance.now();
    // Log fields, not a child logger: most lookups log nothing, and a child per request costs.
    const ctx = { rid: request.requestId ?? shortId(), protocol: request.protocol };
    const settings = this.settings.current;
    const budget = Math.min(request.deadlineMs ?? Number.POSITIVE_INFINITY, settings.zimbraReverseProxyRouteLookupTimeout);
    const deadline = new Deadline(budget);
    const trace: ResolutionTrace = { cache: 'off' };
    let outcome: string;
    try {
      const result = await deadline.run('route lookup', this.resolution.resolver.resolve(request, trace));
      outcome = result.outcome;
      if (this.logger.isLevelEnabled('debug'))
        this.logger.debug({ ...ctx, outcome, source: result.outcome === 'ROUTE' ? result.source : undefined }, 'lookup answered');
      return result;
    } catch (error) {
      const typed = error instanceof PosternError ? error : new PosternError(ErrorCode.Internal, 'internal error', { cause: error });
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
