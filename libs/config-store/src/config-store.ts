/**
 * The config history and the effective config on JetStream: the stream `POSTERN_CONFIG` (one
 * event per change, de-duplicated on the directory's CSN) and the KV bucket `postern-config` (an
 * entry per global config, server and domain, plus the watcher's cursor and heartbeat). The
 * watcher writes both; services and the CLI read them. Every value read is validated: a malformed
 * event or entry is reported as such, never half-used.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  ConfigBucket,
  ConfigEntrySchema,
  ConfigEventSchema,
  ConfigStream,
  WatcherHeartbeatSchema,
  configEventSubject,
  decodePayload,
  encodePayload,
  type ConfigEntry,
  type ConfigEvent,
  type WatcherHeartbeat,
} from '@postern/contracts';

/** How long a JetStream API call may take before it is an error (a wedged server must not hang a caller). */
const API_TIMEOUT_MS = 3_000;
/** KV history per key: enough to see the last few values with the CLI. */
const KV_HISTORY = 5;

/** A stored event with its stream sequence. */
export interface StoredConfigEvent {
  readonly sequence: number;
  readonly event: ConfigEvent;
}

/** A stream message that is not a valid event: reported with its sequence, never applied. */
export interface MalformedStoredEvent {
  readonly sequence: number;
  readonly problem: string;
}

/** The result of publishing: the event's sequence, and whether the stream already had it. */
export interface PublishResult {
  readonly sequence: number;
  readonly duplicate: boolean;
}

/** JetStream's answer for a stream (or a bucket's stream) that does not exist. */
function isNotFound(error: unknown): boolean {
  return /not found/i.test((error as Error).message);
}

/** The stream or the bucket does not exist yet: no config-watcher has created them. */
export class ConfigStoreMissingError extends Error {
  override readonly name = 'ConfigStoreMissingError';
}

export class ConfigStore {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly kv: KV,
  ) {}

  /**
   * Opens the stream and the bucket. With `create` (the watcher), creates them when missing;
   * without (services, the CLI), rejects with {@link ConfigStoreMissingError} when no watcher has
   * made them yet.
   */
  static async open(nc: NatsConnection, options: { create: boolean; replicas?: number }): Promise<ConfigStore> {
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    const js = jetstream(nc, { timeout: API_TIMEOUT_MS });
    if (options.create) {
      const replicas = options.replicas ?? 1;
      const config = {
        name: ConfigStream.name,
        subjects: [ConfigStream.subjects],
        duplicate_window: ConfigStream.duplicateWindowMs * 1_000_000,
        num_replicas: replicas,
      };
      try {
        await jsm.streams.info(ConfigStream.name);
      } catch {
        await jsm.streams.add(config);
      }
      return new ConfigStore(js, jsm, await new Kvm(js).create(ConfigBucket.name, { history: KV_HISTORY, replicas }));
    }
    try {
      await jsm.streams.info(ConfigStream.name);
    } catch (error) {
      // Not there yet is expected (no watcher has run); JetStream off or not answering is not.
      if (!isNotFound(error)) throw error;
      throw new ConfigStoreMissingError(`the stream ${ConfigStream.name} does not exist yet (${(error as Error).message}): has a config-watcher run?`, {
        cause: error,
      });
    }
    try {
      return new ConfigStore(js, jsm, await new Kvm(js).open(ConfigBucket.name, { bindOnly: true }));
    } catch (error) {
      // The watcher creates the stream, then the bucket: a reader can come between the two.
      if (!isNotFound(error)) throw error;
      throw new ConfigStoreMissingError(`the bucket ${ConfigBucket.name} does not exist yet: has a config-watcher run?`, { cause: error });
    }
  }

  /** Publishes `event` once: a second publication with the same kind, scope and CSN is a duplicate. */
  async publish(event: ConfigEvent, msgId = `${event.kind}:${event.scope}:${event.csn}`): Promise<PublishResult> {
    const ack = await this.js.publish(configEventSubject(event), encodePayload(ConfigEventSchema, event), { msgID: msgId });
    return { sequence: ack.seq, duplicate: ack.duplicate };
  }

  /** False when the stream or the bucket no longer exists; rejects when JetStream cannot be asked. */
  async present(): Promise<boolean> {
    for (const stream of [ConfigStream.name, `KV_${ConfigBucket.name}`]) {
      try {
        await this.jsm.streams.info(stream);
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    }
    return true;
  }

  /** The newest event's sequence (0: none). */
  async lastSequence(): Promise<number> {
    return (await this.jsm.streams.info(ConfigStream.name)).state.last_seq;
  }

  /** The oldest event the stream still holds: its sequence and when it was published (undefined: none). */
  async firstEvent(): Promise<{ sequence: number; time: string } | undefined> {
    const { state } = await this.jsm.streams.info(ConfigStream.name);
    if (state.messages === 0) return undefined;
    const stored = await this.event(state.first_seq);
    const time = stored && !isMalformed(stored) ? stored.event.publishedAt : state.first_ts;
    return { sequence: state.first_seq, time };
  }

  /** One event by sequence; null when there is none, or what is wrong with it. */
  async event(sequence: number): Promise<StoredConfigEvent | MalformedStoredEvent | null> {
    let message;
    try {
      message = await this.jsm.streams.getMessage(ConfigStream.name, { seq: sequence });
    } catch (error) {
      if (/no message found|not found/i.test((error as Error).message)) return null;
      throw error;
    }
    if (!message) return null;
    return decodeEvent(sequence, message.data);
  }

  /**
   * The events from `start` on (a sequence or a time), oldest first; with `follow`, keeps
   * yielding new ones until `signal` aborts.
   */
  async *events(
    start: { sequence?: number; time?: Date },
    options: { follow?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<StoredConfigEvent | MalformedStoredEvent> {
    const last = await this.lastSequence();
    if (!options.follow && (last === 0 || (start.sequence ?? 1) > last)) return;
    const consumer = await this.js.consumers.get(ConfigStream.name, {
      ...(start.time
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time.toISOString() }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.sequence ?? 1) }),
    });
    const messages = await consumer.consume();
    const stop = () => void messages.stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      if (!options.follow && (await consumer.info(true)).num_pending === 0) return;
      for await (const message of messages) {
        yield decodeEvent(message.seq, message.data);
        if (!options.follow && message.info.pending === 0) return;
      }
    } finally {
      options.signal?.removeEventListener('abort', stop);
      stop();
    }
  }

  /** Every global, server and domain entry by key; malformed values listed apart. */
  async entries(): Promise<{ entries: Map<string, ConfigEntry>; malformed: string[] }> {
    const entries = new Map<string, ConfigEntry>();
    const malformed: string[] = [];
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      if (key === ConfigBucket.cursorKey || key === ConfigBucket.heartbeatKey) continue;
      const entry = await this.entry(key);
      if (entry === 'malformed') malformed.push(key);
      else if (entry) entries.set(key, entry);
    }
    return { entries, malformed };
  }

  /** One entry; undefined when absent, `malformed` when its value is not a valid entry. */
  async entry(key: string): Promise<ConfigEntry | undefined | 'malformed'> {
    const value = await this.kv.get(key);
    if (!value || value.operation !== 'PUT') return undefined;
    return decodeEntry(value.value);
  }

  async putEntry(key: string, entry: ConfigEntry): Promise<void> {
    await this.kv.put(key, encodePayload(ConfigEntrySchema, entry));
  }

  async deleteEntry(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /** The watcher's cursor in the directory's change log, if it has one. */
  async cursor(): Promise<string | undefined> {
    const value = await this.kv.get(ConfigBucket.cursorKey);
    return value && value.operation === 'PUT' ? value.string() : undefined;
  }

  async setCursor(position: string): Promise<void> {
    await this.kv.put(ConfigBucket.cursorKey, position);
  }

  async heartbeat(): Promise<WatcherHeartbeat | undefined> {
    const value = await this.kv.get(ConfigBucket.heartbeatKey);
    if (!value || value.operation !== 'PUT') return undefined;
    const decoded = decodePayload(WatcherHeartbeatSchema, value.value);
    return decoded.ok ? decoded.value : undefined;
  }

  async setHeartbeat(heartbeat: WatcherHeartbeat): Promise<void> {
    await this.kv.put(ConfigBucket.heartbeatKey, encodePayload(WatcherHeartbeatSchema, heartbeat));
  }
}

export function decodeEvent(sequence: number, data: Uint8Array): StoredConfigEvent | MalformedStoredEvent {
  const decoded = decodePayload(ConfigEventSchema, data);
  return decoded.ok ? { sequence, event: decoded.value } : { sequence, problem: decoded.message };
}

export function decodeEntry(data: Uint8Array): ConfigEntry | 'malformed' {
  const decoded = decodePayload(ConfigEntrySchema, data);
  return decoded.ok ? decoded.value : 'malformed';
}

export function isMalformed(stored: StoredConfigEvent | MalformedStoredEvent): stored is MalformedStoredEvent {
  return 'problem' in stored;
}
