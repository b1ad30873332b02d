/**
 * A service's view of the effective config in the KV bucket `postern-config`: the global config
 * and this node's server entry (the layers under the config file's attributes), and word of every
 * domain change (certificates, virtual hosts). Read before the service serves, then watched.
 *
 * When there is no bucket yet (no watcher has run: said once, at info) or JetStream cannot be
 * reached (a warning), the service runs on what it had (at first: the config file alone) and
 * tries again in the background; a
 * malformed value is refused with a log line and the previous one stays. The feed keeps which
 * config sequence the node runs on and when the watcher last looked at the directory; logging,
 * metrics and the connection's state are the service's, handed in ({@link ConfigFeedOptions}).
 */
import type { QueuedIterator } from '@nats-io/nats-core';
import type { KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AttributeValues } from '@postern/config';
import { ConfigBucket, configKey, decodePayload, WatcherHeartbeatSchema, type ConfigEntry } from '@postern/contracts';
import { ConfigStore, ConfigStoreMissingError, decodeEntry } from './config-store';

/** A value read from the bucket (data undefined: the key was deleted). */
interface KvValue {
  readonly key: string;
  readonly data: Uint8Array | undefined;
}

/** How long a starting service waits for the config before it serves on what it has. */
const CATCH_UP_BUDGET_MS = 10_000;
/** Between attempts to open or re-watch the bucket. */
const RETRY_MS = 2_000;

/** A change the feed applied: which entry, and what it now is (undefined: deleted). */
export interface FeedChange {
  /**
   * The bucket key; `*` after a gap in the watch: every entry of the scope may have changed (of the
   * global scope: both of this node's layers, the global config and its server entry, applied at once).
   */
  readonly key: string;
  readonly scope: 'global' | 'server' | 'domain';
  readonly entry: ConfigEntry | undefined;
  /** True for this node's layers (global config, its own server entry): its settings must be re-read. */
  readonly settings: boolean;
}

/** Where the feed writes its lines: the service's logger (pino's calls, with fields first). */
export interface ConfigFeedLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What the feed records (the service kit backs each with a Prometheus metric). */
export interface ConfigFeedMetrics {
  /** The stream sequence of the newest change applied. */
  readonly sequence: { set(sequence: number): void };
  /** Seconds from a directory change to this process applying it. */
  readonly applyLatency: { observe(seconds: number): void };
  /** A value refused: malformed, or settings that did not resolve. */
  readonly refused: { inc(labels: { reason: 'malformed' | 'invalid' }): void };
}

export interface ConfigFeedOptions {
  /** This node's name: its server entry is one of its settings' layers (none: the global config alone). */
  readonly serverName: string | undefined;
  readonly logger: ConfigFeedLog;
  readonly metrics: ConfigFeedMetrics;
  /**
   * True while the NATS connection is up: a failure to follow the bucket is then worth a warning;
   * while the connection is down it is only its consequence, said elsewhere.
   */
  readonly connected: () => boolean;
}

export class ConfigFeed {
  private global: ConfigEntry | undefined;
  private server: ConfigEntry | undefined;
  private store: ConfigStore | undefined;
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private warned = false;
  /** Said once that the bucket does not exist yet. */
  private waiting = false;
  private readonly listeners: ((change: FeedChange) => Promise<boolean> | boolean)[] = [];
  private readonly serverKey: string | undefined;
  /** When the watcher last read the directory, as last heard. */
  heartbeatTime: Date | undefined;

  private readonly logger: ConfigFeedLog;
  private readonly metrics: ConfigFeedMetrics;
  private readonly connected: () => boolean;

  constructor(
    private readonly nc: NatsConnection,
    options: ConfigFeedOptions,
  ) {
    this.serverKey = options.serverName ? configKey('server', options.serverName) : undefined;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.connected = options.connected;
  }

  /** The directory layers of this node's settings: global config < its server entry. */
  sources(): { global?: AttributeValues; server?: AttributeValues } {
    return { global: this.global?.attributes, server: this.server?.attributes };
  }

  /**
   * Calls `listener` for every change after the first read; it answers whether it applied the
   * change (false: refused, the sequence does not move on).
   */
  onChange(listener: (change: FeedChange) => Promise<boolean> | boolean): void {
    this.listeners.push(listener);
  }

  /** Reads the config and starts watching; gives up waiting after a bounded time and keeps trying in the background. */
  async start(): Promise<void> {
    // After a reconnect the server may be another one, or the same one without its store: the
    // watch starts again from what the bucket holds (a watch on a stream that is gone never ends).
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type !== 'reconnect' || this.stopped) continue;
        this.watch?.stop();
        this.watch = undefined;
        this.later();
      }
    })();
    const first = this.attach(false);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CATCH_UP_BUDGET_MS);
    });
    await Promise.race([first, late]);
    clearTimeout(timer);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.watch?.stop();
  }

  /** Opens the bucket, reads the node's layers and watches every later change; on failure, tries again later. */
  private async attach(notify: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      const store = this.store ?? (await ConfigStore.open(this.nc, { create: false }));
      this.store = store;
      const last = (await store.kv.status()).streamInfo.state.last_seq;
      // This node's two layers are applied together: after a gap (or a start before the bucket
      // existed) the settings are re-read once for both, not once for each.
      const layers: KvValue[] = [];
      for (const key of [ConfigBucket.globalKey, this.serverKey]) {
        if (key === undefined) continue;
        const value = await store.kv.get(key);
        if (value) layers.push({ key: value.key, data: value.operation === 'PUT' ? value.value : undefined });
      }
      await this.applyLayers(layers, notify);
      const heartbeat = await store.kv.get(ConfigBucket.heartbeatKey);
      if (heartbeat) await this.apply(heartbeat.key, heartbeat.operation === 'PUT' ? heartbeat.value : undefined, notify);
      // Watching again after a gap: any domain or server may have changed meanwhile.
      if (notify) for (const scope of ['domain', 'server'] as const) await this.tell({ key: '*', scope, entry: undefined, settings: false });
      const watch = await store.kv.watch({ key: '>', resumeFromRevision: last + 1 });
      this.watch = watch;
      this.warned = false;
      this.waiting = false;
      this.logger.info({ sequence: this.sequence }, 'config: following postern-config');
      void this.follow(watch);
    } catch (error) {
      this.logOnce(error);
      this.later();
    }
  }

  private async follow(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const value of watch) await this.apply(value.key, value.operation === 'PUT' ? value.value : undefined, true);
    } catch (error) {
      this.logOnce(error);
    }
    // The watch ended (connection lost for good, bucket deleted): start again from what is there.
    if (!this.stopped) this.later();
  }

  private later(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.attach(true), RETRY_MS);
    this.retry.unref();
  }

  private logOnce(error: unknown): void {
    if (error instanceof ConfigStoreMissingError) {
      // A service started before the first config-watcher: expected, said once, without a stack.
      if (!this.waiting)
        this.logger.info({ bucket: ConfigBucket.name }, 'config: waiting for the config-watcher to create postern-config; serving on the config in hand');
      this.waiting = true;
      return;
    }
    const fields = { err: error };
    if (!this.warned && this.connected()) this.logger.warn(fields, 'config: cannot follow postern-config; serving on the config in hand');
    else this.logger.debug(fields, 'config: cannot follow postern-config');
    this.warned = true;
  }

  /** Applies one KV value: the node's layers, the heartbeat, and word of every domain change. */
  private async apply(key: string, data: Uint8Array | undefined, notify: boolean): Promise<void> {
    if (key === ConfigBucket.cursorKey) return;
    if (key === ConfigBucket.heartbeatKey) {
      const heartbeat = data === undefined ? undefined : heartbeatOf(data);
      if (!heartbeat) return;
      this.heartbeatTime = heartbeat.time;
      // The bucket is read in order: every entry up to the announced sequence has been applied here,
      // unless one was refused (then the node says it lags until its settings apply again).
      if (heartbeat.sequence !== undefined && !this.refusing) this.advance(heartbeat.sequence);
      return;
    }
    const scope =
      key === ConfigBucket.globalKey
        ? 'global'
        : key.startsWith(ConfigBucket.serverPrefix)
          ? 'server'
          : key.startsWith(ConfigBucket.domainPrefix)
            ? 'domain'
            : undefined;
    if (scope === undefined) return;
    if (key === ConfigBucket.globalKey || key === this.serverKey) return this.applyLayers([{ key, data }], notify);
    const entry = this.decode(key, data);
    if (entry === 'malformed') return;
    if (notify && !(await this.tell({ key, scope, entry, settings: false }))) {
      this.metrics.refused.inc({ reason: 'invalid' });
      this.refusing = true;
      return;
    }
    if (entry) this.advanced(entry, notify);
  }

  /**
   * Applies values of this node's layers (the global config, its server entry) with one word to
   * the listeners: one change names its key, two are `*` of the global scope. Refused, both layers
   * stay as they were.
   */
  private async applyLayers(values: readonly KvValue[], notify: boolean): Promise<void> {
    const before = { global: this.global, server: this.server };
    const applied: { key: string; entry: ConfigEntry | undefined }[] = [];
    for (const { key, data } of values) {
      const entry = this.decode(key, data);
      if (entry === 'malformed') continue;
      if (key === ConfigBucket.globalKey) this.global = entry;
      else this.server = entry;
      applied.push({ key, entry });
    }
    const [only] = applied;
    if (only === undefined) return;
    const change: FeedChange =
      applied.length === 1
        ? { key: only.key, scope: only.key === ConfigBucket.globalKey ? 'global' : 'server', entry: only.entry, settings: true }
        : { key: '*', scope: 'global', entry: undefined, settings: true };
    if (notify && !(await this.tell(change))) {
      // Refused: the node keeps running on its previous layers.
      this.global = before.global;
      this.server = before.server;
      this.metrics.refused.inc({ reason: 'invalid' });
      this.refusing = true;
      return;
    }
    this.refusing = false;
    for (const { entry } of applied) if (entry) this.advanced(entry, notify);
  }

  /** A value's entry; a malformed one is refused (counted, logged) and the previous one stays. */
  private decode(key: string, data: Uint8Array | undefined): ConfigEntry | undefined | 'malformed' {
    const entry = data === undefined ? undefined : decodeEntry(data);
    if (entry === 'malformed') {
      this.metrics.refused.inc({ reason: 'malformed' });
      this.logger.error({ key }, 'config: refused a malformed postern-config value; keeping the previous one');
    }
    return entry;
  }

  /** An entry applied: the node's sequence moves on to it, and a change heard live is timed. */
  private advanced(entry: ConfigEntry, notify: boolean): void {
    this.advance(entry.sequence);
    if (notify) this.metrics.applyLatency.observe(Math.max(0, (Date.now() - Date.parse(entry.time)) / 1000));
  }

  /** Tells every listener of `change`; true when each applied it. */
  private async tell(change: FeedChange): Promise<boolean> {
    let applied = true;
    for (const listener of this.listeners) {
      try {
        applied = (await listener(change)) && applied;
      } catch (error) {
        applied = false;
        this.logger.error({ err: error, key: change.key }, 'config: applying a change failed');
      }
    }
    return applied;
  }

  private sequenceValue = 0;
  /** A change of this node's settings was refused: the node runs on older settings than the bucket's. */
  private refusing = false;

  private advance(sequence: number): void {
    if (sequence <= this.sequenceValue) return;
    this.sequenceValue = sequence;
    this.metrics.sequence.set(sequence);
  }

  /** The newest config change this process runs on. */
  get sequence(): number {
    return this.sequenceValue;
  }
}

function heartbeatOf(data: Uint8Array): { time: Date; sequence?: number } | undefined {
  const decoded = decodePayload(WatcherHeartbeatSchema, data);
  if (!decoded.ok || Number.isNaN(Date.parse(decoded.value.time))) return undefined;
  return { time: new Date(decoded.value.time), sequence: decoded.value.sequence };
}
