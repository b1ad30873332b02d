/**
 * The watcher's loop: read the directory's changes from the cursor, turn each into a typed event
 * (validated first; an invalid change is published as rejected and not applied), publish it once
 * on POSTERN_CONFIG, write the effective entry to the KV bucket, drop the routes of an account
 * whose routing changed, then move the cursor (kept in the KV: a restarted watcher resumes there).
 *
 * The cursor moves only after a change is fully handled, so a failure (directory or NATS down)
 * means the same changes are read again after a backoff: handling is idempotent (config events
 * are diffs against what was published; account events are de-duplicated by CSN in the stream).
 * The global config, servers and domains are read whole at the first start, at every start from
 * an LDIF file, and periodically, which also finds what a change log cannot show (a poll source
 * sees no deletes).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { configKey, type AttributeMap, type ConfigEntry, type ConfigEvent, type ConfigScope, type ConfigSource } from '@postern/contracts';
import { type DirectoryBackend, type DirectoryEntry, type Attributes } from '@postern/directory';
import { ConfigStore, LOGGER, NATS_CONNECTION, ServiceLifecycle, ServiceSettings, type Logger, type NatsConnection } from '@postern/service-kit';
import { ConfigWatcherMetrics } from './config-watcher.metrics';
import { changedAttributes, ConfigModel, entryNameOf, isDomainRoutingAttribute, isRoutingAttribute, publishedAttributes, scopeOf } from './config-model';
import { csnTime, type ChangeSource, type DirectoryChange } from './directory-change';
import { RouteInvalidator, invalidationOf, invalidationReason } from './route-invalidator';
import { validateEntry } from './validation';
import { CHANGE_SOURCE, type WatchedDirectory } from './watched-directory';
import { WATCHER_OPTIONS } from './tokens';
import type { WatcherOptions } from './watcher-options';

/** How often the watcher tells the services it has read the directory (the config's age metric). */
const HEARTBEAT_INTERVAL_MS = 5_000;
const CONFIG_FILTERS: readonly [Exclude<ConfigScope, 'account'>, string][] = [
  ['global', '(objectClass=zimbraGlobalConfig)'],
  ['server', '(objectClass=zimbraServer)'],
  ['domain', '(objectClass=zimbraDomain)'],
];

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

@Injectable()
export class ConfigWatcherService implements OnApplicationBootstrap {
  private readonly model = new ConfigModel();
  private store: ConfigStore | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private lastHeartbeat = 0;
  private lastReconcile = 0;
  private readonly name = `${hostname()}:${process.pid}`;
  private loop: Promise<void> | undefined;

  constructor(
    @Inject(CHANGE_SOURCE) private readonly watched: WatchedDirectory,
    @Inject(WATCHER_OPTIONS) private readonly options: WatcherOptions,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly invalidator: RouteInvalidator,
    private readonly metrics: ConfigWatcherMetrics,
    private readonly settings: ServiceSettings,
    lifecycle: ServiceLifecycle,
  ) {
    lifecycle.onShutdown('serving', 'config watcher', async () => {
      this.stopping = true;
      this.wake?.();
      await this.loop;
    });
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  private get source(): ChangeSource {
    return this.watched.source;
  }

  private get reader(): DirectoryBackend {
    return this.watched.reader();
  }

  /** Retries `step` with a growing backoff until it succeeds or the service stops. */
  private async persist<T>(what: string, step: () => Promise<T>): Promise<T | undefined> {
    let backoff = this.options.intervalMs;
    for (;;) {
      if (this.stopping) return undefined;
      try {
        return await step();
      } catch (error) {
        this.logger.warn({ err: error, retryInMs: backoff }, `config watcher: ${what} failed`);
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs);
      }
    }
  }

  /**
   * Watches until the service stops. When the stream or the bucket is gone (a NATS server that lost
   * its store), they are made again and filled from the directory, as at a first start.
   */
  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.watch();
      } catch (error) {
        if (!(error instanceof StoreLost)) throw error;
        this.logger.warn('config watcher: the config stream or bucket is gone; making them again from the directory');
        this.model.clear();
        this.store = undefined;
      }
    }
  }

  private async watch(): Promise<void> {
    const store = await this.persist('opening the config stream and bucket', () =>
      ConfigStore.open(this.nc, { create: true, replicas: this.options.replicas }),
    );
    if (!store) return;
    this.store = store;
    const loaded = await this.persist('reading the config bucket', () => store.entries());
    if (!loaded) return;
    for (const key of loaded.malformed)
      this.logger.error({ key }, 'config watcher: a malformed value in the config bucket was ignored; the directory will replace it');
    for (const [key, entry] of loaded.entries) this.model.set(key, entry);
    let cursor = await this.persist('reading the cursor', () => store.cursor());
    if (this.stopping) return;
    const first = cursor === undefined;
    if (first || this.source.kind === 'ldif') {
      // Where the log starts is taken before the full read: a write made during it is seen twice, never missed.
      const start = await this.persist('reading where the change log starts', () => this.source.start());
      if (start === undefined) return;
      if (!(await this.persist('reading the config entries', () => this.reconcile()))) return;
      if (first) cursor = start;
      await this.persist('storing the cursor', () => store.setCursor(start));
    }
    this.logger.info({ source: this.source.kind, cursor, entries: this.model.size }, 'config watcher: watching the directory');
    let backoff = this.options.intervalMs;
    while (!this.stopping) {
      try {
        cursor = await this.pass(store, cursor ?? '');
        backoff = this.options.intervalMs;
        await this.sleep(this.options.intervalMs);
      } catch (error) {
        if (!(await store.present().catch(() => true))) throw new StoreLost();
        this.logger.warn({ err: error, retryInMs: backoff }, 'config watcher: a pass failed; the same changes are read again');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs);
      }
    }
  }

  /** One read of the change log from `cursor`: every change handled in order, the cursor moved after each. */
  private async pass(store: ConfigStore, cursor: string): Promise<string> {
    let changes: DirectoryChange[];
    try {
      changes = await this.source.changesAfter(cursor, 1000);
      this.metrics.directoryUp.set(1);
    } catch (error) {
      this.metrics.directoryUp.set(0);
      this.metrics.directoryErrors.inc();
      throw error;
    }
    for (const change of changes) {
      await this.handle(change, this.source.kind);
      cursor = change.position;
      await store.setCursor(cursor);
    }
    const now = Date.now();
    if (now - this.lastReconcile >= this.options.reconcileIntervalMs) await this.reconcile();
    if (now - this.lastHeartbeat >= HEARTBEAT_INTERVAL_MS) {
      const sequence = Math.max(0, ...this.model.all().map((e) => e.sequence));
      await store.setHeartbeat({ time: new Date(now).toISOString(), watcher: this.name, sequence });
      this.lastHeartbeat = now;
    }
    return cursor;
  }

  /** Reads every global config, server and domain entry and publishes what differs from the model (deletes included). */
  private async reconcile(): Promise<true> {
    const seen = new Set<string>();
    try {
      for (const [scope, filter] of CONFIG_FILTERS) {
        for (const entry of await this.reader.search(filter, { attributes: ['*', 'entryCSN'] })) {
          const key = configKey(scope, entryNameOf(scope, entry.dn, entry.attributes));
          seen.add(key);
          const published = JSON.stringify(publishedAttributes(scope, entry.attributes));
          const time = csnTime(entryCsnOf(entry.attributes) ?? '') ?? new Date();
          await this.handle(
            { op: this.model.get(key) ? 'modify' : 'add', dn: entry.dn, after: entry, csn: `reconcile:${digest(key, published)}`, time, position: '' },
            'reconcile',
          );
        }
      }
      for (const entry of this.model.all()) {
        const key = configKey(entry.scope, entry.entry);
        if (!seen.has(key))
          await this.handle(
            { op: 'delete', dn: entry.dn, after: null, csn: `reconcile:delete:${digest(key, entry.csn)}`, time: new Date(), position: '' },
            'reconcile',
          );
      }
      this.metrics.reconciles.inc({ result: 'ok' });
    } catch (error) {
      this.metrics.reconciles.inc({ result: 'failed' });
      throw error;
    }
    this.lastReconcile = Date.now();
    return true;
  }

  /** Handles one change: a config entry's new state, or an account's routing. */
  private async handle(change: DirectoryChange, source: ConfigSource): Promise<void> {
    const dn = change.newDn ?? change.dn;
    let after = change.after;
    if (after === undefined) after = change.op === 'delete' ? null : await this.read(dn);
    const known = this.model.byDn(change.dn);
    const scope = (after && scopeOf(after.attributes)) ?? (change.old && scopeOf(change.old)) ?? known?.entry.scope;
    if (scope === undefined) return;
    if (scope === 'account') return this.handleAccount(change, after, source);
    return this.handleConfig(scope, change, after, known, source);
  }

  /** The entry at `dn` now, or null when it is gone. */
  private async read(dn: string): Promise<DirectoryEntry | null> {
    const [entry] = await this.reader.search('(objectClass=*)', { base: dn, scope: 'base', attributes: ['*', 'entryCSN'] });
    return entry ?? null;
  }

  private async handleConfig(
    scope: Exclude<ConfigScope, 'account'>,
    change: DirectoryChange,
    after: DirectoryEntry | null,
    known: { key: string; entry: ConfigEntry } | undefined,
    source: ConfigSource,
  ): Promise<void> {
    const store = this.requireStore();
    const name = after ? entryNameOf(scope, after.dn, after.attributes) : (known?.entry.entry ?? entryNameOf(scope, change.dn, change.old ?? {}));
    const key = configKey(scope, name);
    const previous = known?.entry ?? this.model.get(key);
    const before = previous?.attributes ?? null;
    const afterAttributes = after ? publishedAttributes(scope, after.attributes) : null;
    const changed = changedAttributes(before, afterAttributes);
    const renamed = known !== undefined && known.key !== key;
    if (changed.length === 0 && !renamed && change.op !== 'rename') return;
    if (!after && !previous) return;
    const op = renamed || change.op === 'rename' ? 'rename' : !after ? 'delete' : !previous ? 'add' : 'modify';
    const event = changeEvent(change, source, { scope, entry: name, dn: after?.dn ?? change.dn, op, changed, before, after: afterAttributes });
    if (after) {
      const problems = validateEntry(scope, name, after.attributes, this.validationContext(key));
      if (problems.length > 0) {
        const reason = problems.join('; ');
        await this.publish({ ...event, kind: 'rejected', reason });
        this.logger.error({ scope, entry: name, csn: change.csn, reason }, 'config watcher: refused an invalid change; services keep the previous config');
        return;
      }
    }
    const sequence = await this.publish(event);
    if (after && afterAttributes) {
      const entry: ConfigEntry = { scope, entry: name, dn: after.dn, attributes: afterAttributes, sequence, csn: change.csn, time: event.time };
      await store.putEntry(key, entry);
      this.model.set(key, entry);
    } else {
      await store.deleteEntry(key);
      this.model.delete(key);
    }
    if (renamed && known) {
      await store.deleteEntry(known.key);
      this.model.delete(known.key);
    }
    if (scope === 'domain' && changed.some(isDomainRoutingAttribute)) await this.invalidateDomain(after?.dn ?? change.dn);
  }

  private validationContext(changedKey: string) {
    const servers = new Map<string, AttributeMap>();
    for (const server of this.model.servers()) if (configKey('server', server.entry) !== changedKey) servers.set(server.entry, server.attributes);
    return { global: this.model.globalAttributes, servers };
  }

  private async handleAccount(change: DirectoryChange, after: DirectoryEntry | null, source: ConfigSource): Promise<void> {
    const mailHostAttribute = this.settings.current.zimbraReverseProxyMailHostAttribute;
    const afterAttributes = after ? publishedAttributes('account', after.attributes, mailHostAttribute) : null;
    const before = this.accountBefore(change, afterAttributes, mailHostAttribute);
    const changed = changedAttributes(before, afterAttributes);
    if (changed.length === 0 && change.op !== 'rename' && before !== null) return;
    const dn = after?.dn ?? change.dn;
    const entry = entryNameOf('account', dn, after?.attributes ?? change.old ?? {});
    const event = changeEvent(change, source, { scope: 'account', entry, dn, op: change.op, changed, before, after: afterAttributes });
    await this.publish(event);
    const reason = change.op === 'rename' ? 'renamed' : (invalidationReason(before, afterAttributes, changed) ?? 'changed');
    const invalidation = invalidationOf(before, afterAttributes, reason);
    await this.invalidator.invalidate(invalidation);
    this.metrics.invalidations.inc({ reason });
    this.logger.info({ account: event.entry, reason, changed }, 'config watcher: account routes dropped');
  }

  /** An account's routing values before the change, as far as the source tells (null: unknown or new). */
  private accountBefore(change: DirectoryChange, after: AttributeMap | null, mailHostAttribute: string): AttributeMap | null {
    if (change.op === 'add' || change.old === undefined) return null;
    const old = publishedAttributes('account', change.old, mailHostAttribute);
    if (change.modified === undefined) return old;
    // A modify logs the old values of what it wrote only: the rest is as it is now.
    const written = new Set(change.modified.filter((n) => isRoutingAttribute(n, mailHostAttribute)).map((n) => n.toLowerCase()));
    const before: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(after ?? {})) if (!written.has(name.toLowerCase())) before[name] = values;
    return { ...before, ...old };
  }

  /** A domain's external route changed: every account of it loses its cached routes. */
  private async invalidateDomain(domainDn: string): Promise<void> {
    const accounts = await this.reader.search('(objectClass=zimbraAccount)', {
      base: domainDn,
      attributes: ['zimbraMailDeliveryAddress', 'zimbraMailAlias', 'zimbraId', 'zimbraAccountStatus'],
    });
    for (const account of accounts) {
      const routing = publishedAttributes('account', account.attributes);
      await this.invalidator.invalidate(invalidationOf(routing, routing, 'external-route'));
      this.metrics.invalidations.inc({ reason: 'external-route' });
    }
  }

  private async publish(event: ConfigEvent): Promise<number> {
    const { sequence, duplicate } = await this.requireStore().publish(event);
    this.metrics.events.inc({ scope: event.scope, kind: event.kind, stored: duplicate ? 'false' : 'true' });
    this.metrics.publishLatency.observe(Math.max(0, (Date.now() - Date.parse(event.time)) / 1000));
    this.metrics.streamSequence.set(sequence);
    this.logger.info({ sequence, duplicate, kind: event.kind, scope: event.scope, entry: event.entry, op: event.op, changed: event.changed }, 'config event');
    return sequence;
  }

  private requireStore(): ConfigStore {
    if (!this.store) throw new Error('the config store is not open');
    return this.store;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** The stream or the bucket no longer exists. */
class StoreLost extends Error {
  override readonly name = 'StoreLost';
}

/** The event of a change: what changed, with the directory's CSN and time and where it was seen. */
function changeEvent(
  change: DirectoryChange,
  source: ConfigSource,
  what: Pick<ConfigEvent, 'scope' | 'entry' | 'dn' | 'op' | 'changed' | 'before' | 'after'>,
): ConfigEvent {
  return { kind: 'change', ...what, csn: change.csn, time: change.time.toISOString(), publishedAt: new Date().toISOString(), source };
}

function entryCsnOf(attributes: Attributes): string | undefined {
  for (const [name, values] of Object.entries(attributes)) if (name.toLowerCase() === 'entrycsn') return values[0];
  return undefined;
}
