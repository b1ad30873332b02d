/**
 * The config-watcher's state beside the effective config (KV bucket `postern-watcher`): roll-back
 * pins, written by `postern events replay --apply` and read by the watcher before it publishes an
 * entry, and the routing it last published of each account. The watcher creates the bucket; the
 * command line only opens it. Services never read it.
 */
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AccountRoutingSchema,
  PinnedEntrySchema,
  WatcherStateBucket,
  decodePayload,
  encodePayload,
  type AccountRouting,
  type PinnedEntry,
} from '@postern/contracts';
import { ConfigStoreMissingError } from './config-store';

/** How long a JetStream API call may take before it is an error (as the config store). */
const API_TIMEOUT_MS = 3_000;

export class WatcherState {
  private constructor(private readonly kv: KV) {}

  /** Opens the bucket; with `create` (the watcher) makes it when missing, else rejects with {@link ConfigStoreMissingError}. */
  static async open(nc: NatsConnection, options: { create: boolean; replicas?: number }): Promise<WatcherState> {
    const kvm = new Kvm(jetstream(nc, { timeout: API_TIMEOUT_MS }));
    if (options.create) return new WatcherState(await kvm.create(WatcherStateBucket.name, { history: 1, replicas: options.replicas ?? 1 }));
    try {
      return new WatcherState(await kvm.open(WatcherStateBucket.name, { bindOnly: true }));
    } catch (error) {
      throw new ConfigStoreMissingError(`the bucket ${WatcherStateBucket.name} cannot be read (${(error as Error).message}): has a config-watcher run?`, {
        cause: error,
      });
    }
  }

  /** The pin of a config entry (by its config key); undefined when none. A malformed pin is an error: a roll-back must not silently let go. */
  async pin(key: string): Promise<PinnedEntry | undefined> {
    const value = await this.kv.get(`${WatcherStateBucket.pinPrefix}${key}`);
    if (!value || value.operation !== 'PUT') return undefined;
    const decoded = decodePayload(PinnedEntrySchema, value.value);
    if (!decoded.ok) throw new Error(`the roll-back pin of ${key} is malformed: ${decoded.message}`);
    return decoded.value;
  }

  /** Every pin by config key. */
  async pins(): Promise<Map<string, PinnedEntry>> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`${WatcherStateBucket.pinPrefix}>`)) keys.push(key.slice(WatcherStateBucket.pinPrefix.length));
    const pins = new Map<string, PinnedEntry>();
    for (const key of keys.sort()) {
      const pin = await this.pin(key);
      if (pin) pins.set(key, pin);
    }
    return pins;
  }

  /** Stores `pin` for `key`, or removes the key's pin when undefined. */
  async setPin(key: string, pin: PinnedEntry | undefined): Promise<void> {
    if (pin) await this.kv.put(`${WatcherStateBucket.pinPrefix}${key}`, encodePayload(PinnedEntrySchema, pin));
    else await this.kv.delete(`${WatcherStateBucket.pinPrefix}${key}`);
  }

  /** What was last published of the account at `normalizedDn`; undefined when never (or malformed: treated as unknown). */
  async account(normalizedDn: string): Promise<AccountRouting | undefined> {
    const value = await this.kv.get(accountKey(normalizedDn));
    if (!value || value.operation !== 'PUT') return undefined;
    const decoded = decodePayload(AccountRoutingSchema, value.value);
    return decoded.ok ? decoded.value : undefined;
  }

  async setAccount(normalizedDn: string, routing: AccountRouting | undefined): Promise<void> {
    if (routing) await this.kv.put(accountKey(normalizedDn), encodePayload(AccountRoutingSchema, routing));
    else await this.kv.delete(accountKey(normalizedDn));
  }
}

// A DN can hold characters a KV key cannot: the key is its digest.
const accountKey = (normalizedDn: string) => `${WatcherStateBucket.accountPrefix}${createHash('sha256').update(normalizedDn).digest('hex').slice(0, 40)}`;
