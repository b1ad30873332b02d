/**
 * The throttle decided in this frontend (`posternThrottleChecks: local`, the default): the login-throttle
 * service's own policy (@postern/throttle-policy) over the same memcached windows, so every limit
 * stays one limit across all nodes, whichever way each of them checks. It saves a NATS round trip
 * per check (three per login with every limit on) and the service's work, and needs no claims:
 * nothing is sent twice. When memcached cannot answer within the check's budget
 * (`posternThrottleCheckTimeout`, inside the login's deadline) the fail mode decides, counted and
 * logged as the NATS client's fallbacks are.
 */
import { ErrorCode, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import type { EffectiveSettings } from '@postern/config';
import type { MemcachedClient } from '@postern/memcached';
import { Deadline, type Logger, type ServiceSettings } from '@postern/service-kit';
import type { ThrottlePort } from '@postern/throttle-client';
import { MemcachedCounterStore, SlidingWindowCounter, ThrottlePolicy, throttleConfigOf, type ThrottleConfig } from '@postern/throttle-policy';

/** What the local throttle reports when the fail mode gave a verdict. */
export type LocalFallback = (fallback: { kind: ThrottleCheckRequest['kind']; code: ErrorCode; verdict: ThrottleCheckResult['verdict']; error: Error }) => void;

/** What the local throttle reports of every check it decided. */
export type LocalDecision = (kind: ThrottleCheckRequest['kind'], verdict: ThrottleCheckResult['verdict']) => void;

export class LocalThrottle implements ThrottlePort {
  private readonly policy: ThrottlePolicy;
  private config: ThrottleConfig;

  constructor(
    memcached: MemcachedClient,
    private readonly settings: ServiceSettings,
    logger: Logger,
    private readonly onFallback: LocalFallback,
    private readonly onDecided: LocalDecision = () => undefined,
  ) {
    this.config = throttleConfigOf(settings.current);
    // The mail proxy's settings were validated when read; a whitelist that cannot be parsed keeps the previous rules.
    settings.onReload((result, next: EffectiveSettings) => {
      if (result !== 'ok') return;
      try {
        this.config = throttleConfigOf(next);
      } catch (error) {
        logger.error({ err: error }, 'throttle rules not changed: the new whitelist cannot be read');
      }
    });
    const store = new MemcachedCounterStore(memcached);
    this.policy = new ThrottlePolicy(new SlidingWindowCounter(store, { sealAfterMs: store.sealAfterMs }), () => this.config);
  }

  async check(request: ThrottleCheckRequest, deadline: Deadline): Promise<ThrottleCheckResult> {
    const budget = new Deadline(Math.max(1, Math.min(deadline.remaining(), this.settings.current.posternThrottleCheckTimeout)));
    const { result, storeError } = await this.policy.check(request, budget);
    try {
      this.onDecided(request.kind, result.verdict);
    } catch {
      // A metrics callback must not change a verdict.
    }
    if (storeError) {
      const code = storeError instanceof Error && 'code' in storeError && storeError.code === ErrorCode.Timeout ? ErrorCode.Timeout : ErrorCode.Unavailable;
      try {
        this.onFallback({ kind: request.kind, code, verdict: result.verdict, error: storeError });
      } catch {
        // A metrics callback must not change a verdict.
      }
    }
    return result;
  }
}
