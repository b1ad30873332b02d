// The config stream and bucket on JetStream: what the watcher writes and everyone else reads.
export { ConfigStore, ConfigStoreMissingError, isMalformed, type MalformedStoredEvent, type PublishResult, type StoredConfigEvent } from './config-store';
// A service's view of the bucket: its settings' layers, and word of every change.
export { ConfigFeed, type ConfigFeedLog, type ConfigFeedMetrics, type ConfigFeedOptions, type FeedChange } from './config-feed';
// Roll-back pins: an entry held at an older value until the directory moves past it.
export { applyPin, pinFor, type PinOutcome } from './config-pins';
// The watcher's own bucket beside the config (pins, the routing it last published).
export { WatcherState } from './watcher-state';
