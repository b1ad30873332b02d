/**
 * Serves `postern.throttle.check.v1` in the `login-throttle` queue group: every instance shares the
 * load and the counters (memcached), and on shutdown the subscription is drained so no accepted
 * request is lost.
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ErrorCode, PosternError, ThrottleCheckContract, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { Deadline, LOGGER, LogLimiter, NATS_CONNECTION, shortId, startResponderService, type Logger, type NatsConnection, type RunningResponder } from '@postern/service-kit';
import { LoginThrottleMetrics } from './login-throttle.metrics';
import { LoginThrottleRuntime } from './login-throttle.runtime';

/**
 * During an outage every check fails the same way; one line per second (with how many were left
 * out) says so without the log becoming the next outage. The metric counts every one.
 */
const STORE_ERROR_LOG_INTERVAL_MS = 1000;

@Injectable()
export class LoginThrottleService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private serving: RunningResponder | undefined;
  private readonly storeErrorLog = new LogLimiter(STORE_ERROR_LOG_INTERVAL_MS);

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly runtime: LoginThrottleRuntime,
    private readonly metrics: LoginThrottleMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.serving = startResponderService({
      nc: this.nc,
      contract: ThrottleCheckContract,
      handler: (request) => this.check(request),
      logger: this.logger,
      serving: 'throttle checks',
      onBadRequest: () => this.metrics.rejected.inc({ reason: 'bad_request' }),
      onHangup: () => this.runtime.reload(),
      close: () => this.runtime.close(),
    });
  }

  /** Answers the requests already received, then closes NATS and memcached. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.serving?.stop();
  }

  /** Answers one check within the memcached fetch timeout; every outcome is counted. */
  async check(request: ThrottleCheckRequest): Promise<ThrottleCheckResult> {
    const started = performance.now();
    const config = this.runtime.config;
    const { result, storeError } = await this.runtime.policy.check(request, new Deadline(config.checkBudgetMs)).catch((error: unknown) => {
      // A hedged copy another instance took: answered DUPLICATE (the frontend waits for the other copy).
      if (error instanceof PosternError && error.code === ErrorCode.Duplicate) this.metrics.duplicates.inc({ kind: request.kind });
      throw error;
    });
    this.metrics.checks.inc({ kind: request.kind, verdict: result.verdict });
    this.metrics.duration.observe({ kind: request.kind }, (performance.now() - started) / 1000);
    if (storeError) {
      const mode = config.failClosed ? 'fail-closed' : 'fail-open';
      this.metrics.storeErrors.inc({ mode });
      this.logStoreError(request, mode, storeError);
    }
    if (result.verdict === 'deny') this.metrics.denials.inc({ reason: storeError ? 'store-unavailable' : result.reason });
    return result;
  }

  private logStoreError(request: ThrottleCheckRequest, mode: string, error: Error): void {
    const suppressed = this.storeErrorLog.take();
    if (suppressed === undefined) return;
    this.logger.warn({ rid: request.requestId ?? shortId(), kind: request.kind, mode, err: error, suppressed }, `throttle store unavailable: ${mode === 'fail-closed' ? 'denying' : 'allowing'}`);
  }
}
