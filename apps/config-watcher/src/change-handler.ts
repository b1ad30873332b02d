/**
 * Turning one directory change into what the watcher publishes: the entry's scope and name, the
 * attributes before and after, validation (an invalid change is published as rejected and not
 * applied), the event on POSTERN_CONFIG, the entry in the KV bucket, and for an account whose
 * routing changed, its routes dropped. Also the full read of the config entries (reconcile).
 * Handling is idempotent: config events are differences against the published model; an
 * account's event carries its CSN as message id.
 */
import { createHash } from 'node:crypto';
import { configKey, type AttributeMap, type ConfigEntry, type ConfigEvent, type ConfigScope, type ConfigSource } from '@postern/contracts';
import type { Attributes, DirectoryBackend, DirectoryEntry } from '@postern/directory';
import type { ConfigStore, Logger } from '@postern/service-kit';
import type { ConfigWatcherMetrics } from './config-watcher.metrics';
import { changedAttributes, ConfigModel, entryNameOf, isDomainRoutingAttribute, isRoutingAttribute, publishedAttributes, scopeOf } from './config-model';
import { csnTime, type DirectoryChange } from './directory-change';
import { invalidationOf, invalidationReason, type RouteInvalidator } from './route-invalidator';
import { validateEntry } from './validation';

const CONFIG_FILTERS: readonly [Exclude<ConfigScope, 'account'>, string][] = [
  ['global', '(objectClass=zimbraGlobalConfig)'],
  ['server', '(objectClass=zimbraServer)'],
  ['domain', '(objectClass=zimbraDomain)'],
];

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

export class ChangeHandler {
  /** The published global config, servers and domains. */
  readonly model = new ConfigModel();
  /** Where events and entries go (set once the stream and bucket are open). */
  store: ConfigStore | undefined;
  /** When the last full read ended (ms since the epoch). */
  lastReconcile = 0;

  constructor(
    private readonly readerOf: () => DirectoryBackend,
    private readonly invalidator: RouteInvalidator,
    private readonly metrics: ConfigWatcherMetrics,
    private readonly logger: Logger,
    /** The directory attribute naming an account's mailbox server (`zimbraReverseProxyMailHostAttribute`). */
    private readonly mailHostAttribute: () => string,
  ) {}

  private get reader(): DirectoryBackend {
    return this.readerOf();
  }

  /** Reads every global config, server and domain entry and publishes what differs from the model (deletes included). */
  async reconcile(): Promise<true> {
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
  async handle(change: DirectoryChange, source: ConfigSource): Promise<void> {
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
    const mailHostAttribute = this.mailHostAttribute();
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
