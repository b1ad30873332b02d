/**
 * The watcher's loop: read the directory's changes from the cursor, hand each to the
 * {@link ChangeHandler} (event, bucket entry, dropped routes), then move the cursor (kept in the KV:
 * a restarted watcher resumes there); back off while the directory or NATS is down.
 *
 * The cursor moves only after a change is fully handled, so a failure (directory or NATS down)
 * means the same changes are read again after a backoff: handling is idempotent (config events
 * are diffs against what was published; account events are de-duplicated by CSN in the stream).
 * The global config, servers and domains are read whole at the first start, at every start from
 * an LDIF file, and periodically, which also finds what a change log cannot show (a poll source
 * sees no deletes).
 */
import { hostname } from 'node:os';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { DirectoryBackend } from '@postern/directory';
import { ConfigStore, WatcherState } from '@postern/config-store';
import { LOGGER, NATS_CONNECTION, ServiceLifecycle, ServiceSettings, type Logger, type NatsConnection } from '@postern/service-kit';
import { ConfigWatcherMetrics } from './config-watcher.metrics';
import { ChangeHandler } from './change-handler';
import type { ChangeSource, DirectoryChange } from './directory-change';
import { RouteInvalidator } from './route-invalidator';
import { CHANGE_SOURCE, type WatchedDirectory } from './watched-directory';
import { WATCHER_OPTIONS } from './tokens';
import type { WatcherOptions } from './watcher-options';

/** How often the watcher tells the services it has read the directory (the config's age metric). */
const HEARTBEAT_INTERVAL_MS = 5_000;

@Injectable()
export class ConfigWatcherService implements OnApplicationBootstrap {
  private readonly changes: ChangeHandler;
  private stopping = false;
  private wake: (() => void) | undefined;
  private lastHeartbeat = 0;
  private readonly name = `${hostname()}:${process.pid}`;
  private loop: Promise<void> | undefined;
  private oldValuesTold = false;

  constructor(
    @Inject(CHANGE_SOURCE) private readonly watched: WatchedDirectory,
    @Inject(WATCHER_OPTIONS) private readonly options: WatcherOptions,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    invalidator: RouteInvalidator,
    private readonly metrics: ConfigWatcherMetrics,
    settings: ServiceSettings,
    lifecycle: ServiceLifecycle,
  ) {
    this.changes = new ChangeHandler(
      () => this.reader,
      invalidator,
      metrics,
      logger,
      () => settings.current.zimbraReverseProxyMailHostAttribute,
    );
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
        this.changes.model.clear();
        this.changes.store = undefined;
        this.changes.state = undefined;
      }
    }
  }

  private async watch(): Promise<void> {
    const store = await this.persist('opening the config stream and bucket', () =>
      ConfigStore.open(this.nc, { create: true, replicas: this.options.replicas }),
    );
    if (!store) return;
    const state = await this.persist('opening the watcher state bucket', () => WatcherState.open(this.nc, { create: true, replicas: this.options.replicas }));
    if (!state) return;
    this.changes.store = store;
    this.changes.state = state;
    const loaded = await this.persist('reading the config bucket', () => store.entries());
    if (!loaded) return;
    for (const key of loaded.malformed)
      this.logger.error({ key }, 'config watcher: a malformed value in the config bucket was ignored; the directory will replace it');
    for (const [key, entry] of loaded.entries) this.changes.model.set(key, entry);
    let cursor = await this.persist('reading the cursor', () => store.cursor());
    if (this.stopping) return;
    const first = cursor === undefined;
    if (first || this.source.kind === 'ldif') {
      // Where the log starts is taken before the full read: a write made during it is seen twice, never missed.
      const start = await this.persist('reading where the change log starts', () => this.source.start());
      if (start === undefined) return;
      if (!(await this.persist('reading the config entries', () => this.changes.reconcile()))) return;
      if (first) cursor = start;
      await this.persist('storing the cursor', () => store.setCursor(start));
    }
    this.logger.info({ source: this.source.kind, cursor, entries: this.changes.model.size }, 'config watcher: watching the directory');
    if (!this.oldValuesTold) await this.tellOldValues();
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

  /** Says once whether the source's changes carry old values, and what it costs when they do not. */
  private async tellOldValues(): Promise<void> {
    this.oldValuesTold = true;
    const oldValues = await this.source.oldValues().catch(() => 'unknown' as const);
    const source = this.source.kind;
    if (oldValues === 'carried')
      return this.logger.info({ source, oldValues }, 'config watcher: changes carry their old values; every event shows each value before and after');
    this.logger.info(
      { source, oldValues },
      `config watcher: ${oldValues === 'missing' ? 'changes carry no old values' : 'whether changes carry old values is not known yet (no modify in the log)'}: ` +
        'each change is compared with the config and account routing the watcher last published, so a write that changes nothing publishes nothing; ' +
        'but an account it has not published before has its cached routes dropped on its first change, and that event shows no values before. ' +
        'For full history set `logold (objectClass=*)` on the accesslog overlay',
    );
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
      this.metrics.changes.inc({ outcome: await this.changes.handle(change, this.source.kind) });
      cursor = change.position;
      await store.setCursor(cursor);
    }
    const now = Date.now();
    if (now - this.changes.lastReconcile >= this.options.reconcileIntervalMs) await this.changes.reconcile();
    if (now - this.lastHeartbeat >= HEARTBEAT_INTERVAL_MS) {
      const sequence = Math.max(0, ...this.changes.model.all().map((e) => e.sequence));
      await store.setHeartbeat({ time: new Date(now).toISOString(), watcher: this.name, sequence });
      this.lastHeartbeat = now;
    }
    return cursor;
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
