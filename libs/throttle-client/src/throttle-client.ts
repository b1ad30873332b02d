/**
 * The throttle port and its NATS implementation. A check has a budget of its own
 * (`posternThrottleCheckTimeout`) inside the login's deadline; a late answer is hedged to another
 * instance of the queue group, with the same `checkId` so the service counts it once; while the
 * bus is down nothing is sent or awaited. Whenever the service gives no verdict (TIMEOUT,
 * UNAVAILABLE, or a reply that is an error) the frontend's own fail mode decides, as Zimbra's proxy
 * does with memcached: an operator who chose fail-closed gets it for every failure, bugs included.
 */
import { Settings } from '@postern/config';
import { ErrorCode, PosternError, ThrottleCheckContract, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { hedgedRequest, shortId, type Deadline, type NatsConnection } from '@postern/service-kit';

/** What a session needs of the throttle. */
export interface ThrottlePort {
  /**
   * Asks whether a client may connect or a user may log in, or reports a login's outcome.
   * Resolves to a verdict.
   */
  check(request: ThrottleCheckRequest, deadline: Deadline): Promise<ThrottleCheckResult>;
}

/** Allows everything: for a frontend run without a throttle service, and for tests. */
export class AllowAllThrottle implements ThrottlePort {
  async check(): Promise<ThrottleCheckResult> {
    return { verdict: 'allow' };
  }
}

/** Reported when the service could not answer and the fail mode gave the verdict (for metrics and logs). */
export interface ThrottleFallback {
  readonly kind: ThrottleCheckRequest['kind'];
  /** Why there was no verdict: `TIMEOUT` (deadline spent), `UNAVAILABLE` (no instance, or the bus is down), or the error the service answered. */
  readonly code: ErrorCode;
  readonly verdict: ThrottleCheckResult['verdict'];
  readonly error: PosternError;
}

/** Options of {@link ThrottleClient}. Functions are read per check, so hot settings can be passed as getters. */
export interface ThrottleClientOptions {
  /** When the service cannot answer: false allows (the default, as Zimbra), true denies. */
  readonly failClosed?: boolean | (() => boolean);
  /** What a client denied for that reason is told; default `zimbraReverseProxyIpThrottleMsg`'s. */
  readonly failClosedMessage?: string | (() => string);
  /** Called for each verdict given by the fail mode; exceptions it throws are ignored. */
  readonly onFallback?: (fallback: ThrottleFallback) => void;
  /** The budget of one check (ms), capped by the login's deadline; default `posternThrottleCheckTimeout`'s. */
  readonly timeoutMs?: number | (() => number);
  /** Sends the check once more after this long without an answer (ms; 0 = never); default `posternThrottleCheckHedgeDelay`'s. */
  readonly hedgeAfterMs?: number | (() => number);
  /** Called when a check is sent a second time (for metrics). */
  readonly onHedge?: (kind: ThrottleCheckRequest['kind']) => void;
}

/** The throttle over NATS (`postern.throttle.check.v1`). */
export class ThrottleClient implements ThrottlePort {
  constructor(
    private readonly nc: NatsConnection,
    private readonly options: ThrottleClientOptions = {},
  ) {}

  async check(request: ThrottleCheckRequest, deadline: Deadline): Promise<ThrottleCheckResult> {
    const remaining = deadline.remaining();
    try {
      if (remaining < 1) throw new PosternError(ErrorCode.Timeout, `${ThrottleCheckContract.subject}: deadline passed before the check`);
      const { onHedge } = this.options;
      return await hedgedRequest(
        this.nc,
        ThrottleCheckContract,
        // 20 of 32 letters (100 bits): unique across every check in a claim's 15 s window.
        { ...request, checkId: shortId(20) },
        {
          timeoutMs: Math.min(remaining, read(this.options.timeoutMs) ?? Settings.posternThrottleCheckTimeout.default),
          hedgeAfterMs: read(this.options.hedgeAfterMs) ?? Settings.posternThrottleCheckHedgeDelay.default,
          ...(onHedge ? { onHedge: () => onHedge(request.kind) } : {}),
        },
      );
    } catch (error) {
      if (!(error instanceof PosternError)) throw error;
      const result = fallbackVerdict(
        request,
        read(this.options.failClosed) ?? false,
        read(this.options.failClosedMessage) ?? Settings.zimbraReverseProxyIpThrottleMsg.default,
      );
      try {
        this.options.onFallback?.({ kind: request.kind, code: error.code, verdict: result.verdict, error });
      } catch {
        // A metrics callback must not change a verdict.
      }
      return result;
    }
  }
}

/**
 * The verdict when the throttle cannot answer: allow when failing open; when failing closed, deny
 * with the IP message (reason `ip`), except a `login-failed` report, which has nothing to refuse.
 */
export function fallbackVerdict(request: Pick<ThrottleCheckRequest, 'kind'>, failClosed: boolean, message: string): ThrottleCheckResult {
  if (!failClosed || request.kind === 'login-failed') return { verdict: 'allow' };
  return { verdict: 'deny', reason: 'ip', message };
}

function read<T>(value: T | (() => T) | undefined): T | undefined {
  return typeof value === 'function' ? (value as () => T)() : value;
}
