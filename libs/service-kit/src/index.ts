/**
 * The service kit's public surface: what the services, the clients and the tests use, with the
 * types their arguments and results are named by. Everything else in the kit is its own business.
 * The process entry is `@postern/service-kit/main`; the command line's Nest-free helpers are
 * `@postern/service-kit/client`.
 */
// A service as a Nest module: the shared providers, its settings, memcached and metrics.
export { ServiceKitModule, metricsProvider, type ServiceKitOptions } from './service-kit.module';
export { ServiceSettings, settingsProvider, type DirectoryLayers, type ReloadResult, type SettingsProviderOptions } from './settings.provider';
export { memcachedProvider } from './memcached.provider';
// What the kit's module provides, by injection token or class.
export { BOOTSTRAP, LOGGER, NATS_CONNECTION } from './tokens';
export { ServiceLifecycle, type ShutdownPhase } from './lifecycle';
export { HealthChecks } from './health';
// Logging: the logger, its per-turn output, flat lines written directly, the console's text format, ids and rate
// limits; files written off the event loop.
export { FlatLines } from './flat-lines';
export { isoTimeNow } from './iso-time';
export { createLogger, formatLogLine, logFormat, shortId, TurnBufferedOutput, type LogFormat, type Logger } from './logger';
export { LogLimiter } from './log-limiter';
export { FILE_OUTPUT_MAX_HELD_BYTES, FileOutput, type DropReason, type FileOutputOptions } from './file-output';
// Metrics: the Prometheus types the services declare theirs with, and the shared latency buckets.
export { Counter, Gauge, Histogram, LATENCY_BUCKETS_SECONDS, type Registry } from './metrics';
// NATS: the connection, requests with deadlines and hedging, events, and the responders.
export { type NatsConnection } from './nats-connection';
export { hedgedRequest, publishEvent, requestReply, subscribeEvents, type HedgedRequestOptions } from './nats-rpc';
export { Responders } from './responder-service';
// One time budget per operation.
export { Deadline } from './deadline';
