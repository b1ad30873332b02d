/** Injection tokens of what every Postern service is made of (see ServiceKitModule). */

/** The pino logger. */
export const LOGGER = Symbol('LOGGER');
/** The service's prom-client registry. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
/** The service's NATS connection (drained by the service's lifecycle, after the responders). */
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
/** The bootstrap config the service was started with. */
export const BOOTSTRAP = Symbol('BOOTSTRAP');
