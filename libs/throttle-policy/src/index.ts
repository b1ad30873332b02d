/**
 * `@postern/throttle-policy`: what each throttle check counts and when it denies, over sliding
 * windows kept in the shared memcached, exact across every node that uses them. The
 * login-throttle service answers NATS checks with it; a frontend may run it itself
 * (`posternThrottleChecks: local`) against the same counters, without the round trip.
 */
export * from './check-claims';
export * from './memcached-counter-store';
export { SEAL_AFTER_MS, SEALED_SUBJECTS, sealDelayMs } from './sealed-buckets';
export * from './sliding-window';
export * from './throttle-policy';
export * from './throttle-settings';
