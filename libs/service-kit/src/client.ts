/**
 * The kit's client side without Nest, pino or prom-client (`@postern/service-kit/client`): the
 * config stream and bucket, and the NATS request and event helpers. For a process that talks to
 * the services without being one (the `postern` command line), whose start-up time is the
 * operator's wait: the full kit loads Nest, a fifth of a second before anything runs.
 */
export {
  ConfigStore,
  ConfigStoreMissingError,
  decodeEntry,
  decodeEvent,
  isMalformed,
  type MalformedStoredEvent,
  type PublishResult,
  type StoredConfigEvent,
} from './config-store';
export { applyPin, pinFor, type PinOutcome } from './config-pins';
export { WatcherState } from './watcher-state';
export { hedgedRequest, publishEvent, requestReply, subscribeEvents, type HedgedRequestOptions } from './nats-rpc';
