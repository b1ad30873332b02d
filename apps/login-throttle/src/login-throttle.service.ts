/**
 * Serves `postern.throttle.check.v1` in the `login-throttle` queue group: every instance shares the
 * load and the counters (memcached), and on shutdown the subscription is drained so no accepted
 * request is lost.
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ErrorCode, PosternError, ThrottleCheckContract, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { Deadline, LOGGER, LogLimiter, Responders, shortId, type Logger } from '@postern/service-kit';
import { LoginThrottleMetrics } from './login-throttle.metrics';
import { ThrottlePolicy } from '@postern/throttle-policy';
import { ThrottleRules } from './throttle-rules';

/**
 * During an outage every check fails the same way; one line per second (with how many were left
 * out) says so without the log becoming the next outage. The metric counts every one.
 */
const STORE_ERROR_LOG_INTERVAL_MS = 1000;

@Injectable()
export class LoginThrottleService implements OnApplicationBootstrap {
  private readonly storeErrorLog = new LogLimiter(STORE_ERROR_LOG_INTERVAL_MS);

  constructor(
    private readonly responders: Responders,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly rules: ThrottleRules,
    private readonly policy: ThrottlePolicy,
    private readonly metrics: LoginThrottleMetrics,
  ) {}

  /** Serves checks once every provider is ready; the service kit drains them on shutdown. */
  onApplicationBootstrap(): void {
    this.responders.serve(ThrottleCheckContract, (request) => this.check(request), {
      serving: 'throttle checks',
      onBadRequest: () => this.metrics.rejected.inc({ reason: 'bad_request' }),
    });
  }

  /** Answers one check within the memcached fetch timeout; every outcome is counted. */
  async check(request: ThrottleCheckRequest): Promise<ThrottleCheckResult> {
    const started = performance.now();
    const config = this.rules.current;
    const { result, storeError } = await this.policy.check(request, new Deadline(config.checkBudgetMs)).catch((error: unknown) => {
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
    this.logger.warn(
      { rid: request.requestId ?? shortId(), kind: request.kind, mode, err: error, suppressed },
      `throttle store unavailable: ${mode === 'fail-closed' ? 'denying' : 'allowing'}`,
    );
  }
}
