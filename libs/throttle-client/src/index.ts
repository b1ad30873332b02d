/**
 * `@postern/throttle-client`: how a frontend asks the login throttle.
 *
 * - {@link ThrottlePort}: the port a session depends on.
 * - {@link ThrottleClient}: the port over NATS, bounded by the login's deadline, with the
 *   frontend's fail-open / fail-closed choice when the service cannot answer.
 * - {@link AllowAllThrottle}: the port when no throttle is configured.
 */
export * from './throttle-client';
export * from './limit-aware';
