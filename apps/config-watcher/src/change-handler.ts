/**
 * Turning one directory change into what the watcher publishes: the entry's scope and name, the
 * attributes before and after, validation (an invalid change is published as rejected and not
 * applied), the event on POSTERN_CONFIG, the entry in the KV bucket, and for an account whose
 * routing changed, its routes dropped. Also the full read of the config entries (reconcile).
 * Handling is idempotent: config events are differences against the published model; an
 * account's event carries its CSN as message id.
 */
import { createHash } from 'node:crypto';
import { validateEntry } from '@postern/config';
import { configKey, type AttributeMap, type ConfigEntry, type ConfigEvent, type ConfigScope, type ConfigSource, type PinnedEntry } from '@postern/contracts';
import { normalizeDn, type Attributes, type DirectoryBackend, type DirectoryEntry } from '@postern/directory';
import { applyPin, type ConfigStore, type WatcherState } from '@postern/config-store';
import type { Logger } from '@postern/service-kit';
import type { ConfigWatcherMetrics } from './config-watcher.metrics';
import {
  changedAttributes,
  ConfigModel,
  entryNameOf,
  isDigested,
  isDomainRoutingAttribute,
  isRoutingAttribute,
  publishedAttributes,
  scopeOf,
} from './config-model';
import { csnTime, type DirectoryChange } from './directory-change';
import { invalidationOf, invalidationReason, type RouteInvalidator } from './route-invalidator';

const CONFIG_FILTERS: readonly [Exclude<ConfigScope, 'account'>, string][] = [
  ['global', '(objectClass=zimbraGlobalConfig)'],
  ['server', '(objectClass=zimbraServer)'],
  ['domain', '(objectClass=zimbraDomain)'],
];

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/** What handling a change came to. */
export type ChangeOutcome = 'published' | 'rejected' | 'unchanged';

export class ChangeHandler {
  /** The published global config, servers and domains. */
  readonly model = new ConfigModel();
  /** Where events and entries go (set once the stream and bucket are open). */
  store: ConfigStore | undefined;
  /** Roll-back pins and the accounts' last published routing (set with the store). */
  state: WatcherState | undefined;
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
      // A roll-back may have added or removed entries since: start from what the bucket holds.
      const { entries } = await this.requireStore().entries();
      this.model.clear();
      for (const [key, entry] of entries) this.model.set(key, entry);
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
  async handle(change: DirectoryChange, source: ConfigSource): Promise<ChangeOutcome> {
    const dn = change.newDn ?? change.dn;
    let after = change.after;
    if (after === undefined) after = change.op === 'delete' ? null : await this.read(dn);
    const known = this.model.byDn(change.dn);
    const scope = (after && scopeOf(after.attributes)) ?? (change.old && scopeOf(change.old)) ?? known?.entry.scope;
    if (scope === undefined) return 'unchanged';
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
  ): Promise<ChangeOutcome> {
    const store = this.requireStore();
    const state = this.requireState();
    const name = after ? entryNameOf(scope, after.dn, after.attributes) : (known?.entry.entry ?? entryNameOf(scope, change.dn, change.old ?? {}));
    const key = configKey(scope, name);
    // What is in effect is read from the bucket, not remembered: a roll-back may have set it since.
    const previous = await this.current(key);
    const before = previous?.attributes ?? null;
    const pin = await state.pin(key);
    const directory = after ? publishedAttributes(scope, after.attributes) : null;
    const pinned = applyPin(directory, pin, change.modified);
    const effective = pinned.effective;
    const changed = changedAttributes(before, effective);
    const renamed = known !== undefined && known.key !== key;
    const pinMoved = JSON.stringify(pinned.pin ?? null) !== JSON.stringify(pin ?? null);
    if (pinned.released.length > 0)
      this.logger.info({ scope, entry: name, released: pinned.released }, 'config watcher: the directory changed rolled-back values; its values apply again');
    if ((changed.length === 0 && !renamed && change.op !== 'rename') || (!effective && !previous)) {
      if (pinMoved) await state.setPin(key, pinned.pin);
      return 'unchanged';
    }
    const op = renamed || change.op === 'rename' ? 'rename' : !effective ? 'delete' : !previous ? 'add' : 'modify';
    const dn = after?.dn ?? previous?.dn ?? change.dn;
    const event = changeEvent(change, source, { scope, entry: name, dn, op, changed, before, after: effective });
    if (after && effective) {
      const problems = validateEntry(scope, name, withPins(after.attributes, pinned.pin), this.validationContext(key));
      if (problems.length > 0) {
        const reason = problems.join('; ');
        await this.publish({ ...event, kind: 'rejected', reason });
        this.logger.error({ scope, entry: name, csn: change.csn, reason }, 'config watcher: refused an invalid change; services keep the previous config');
        return 'rejected';
      }
    }
    const sequence = await this.publish(event);
    if (pinMoved) await state.setPin(key, pinned.pin);
    if (effective) {
      const entry: ConfigEntry = { scope, entry: name, dn, attributes: effective, sequence, csn: change.csn, time: event.time };
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
    if (scope === 'domain' && changed.some(isDomainRoutingAttribute)) await this.invalidateDomain(dn);
    return 'published';
  }

  /** The entry in effect for `key` as the bucket holds it now (the model follows it). */
  private async current(key: string): Promise<ConfigEntry | undefined> {
    const stored = await this.requireStore().entry(key);
    if (stored === 'malformed') return this.model.get(key);
    if (stored) this.model.set(key, stored);
    else this.model.delete(key);
    return stored;
  }

  private validationContext(changedKey: string) {
    const servers = new Map<string, AttributeMap>();
    for (const server of this.model.servers()) if (configKey('server', server.entry) !== changedKey) servers.set(server.entry, server.attributes);
    return { global: this.model.globalAttributes, servers };
  }

  private async handleAccount(change: DirectoryChange, after: DirectoryEntry | null, source: ConfigSource): Promise<ChangeOutcome> {
    const state = this.requireState();
    const mailHostAttribute = this.mailHostAttribute();
    const afterAttributes = after ? publishedAttributes('account', after.attributes, mailHostAttribute) : null;
    // Unknown is not empty: without old values in the log, the account is compared with what was last published of it.
    const logged = this.accountBefore(change, afterAttributes, mailHostAttribute);
    const before = logged !== undefined ? logged : ((await state.account(normalizeDn(change.dn)))?.attributes ?? null);
    const changed = changedAttributes(before, afterAttributes);
    if (changed.length === 0 && change.op !== 'rename' && before !== null) return 'unchanged';
    const dn = after?.dn ?? change.dn;
    const entry = entryNameOf('account', dn, after?.attributes ?? change.old ?? {});
    const event = changeEvent(change, source, { scope: 'account', entry, dn, op: change.op, changed, before, after: afterAttributes });
    await this.publish(event);
    if (change.op === 'rename' || !afterAttributes) await state.setAccount(normalizeDn(change.dn), undefined);
    if (afterAttributes) await state.setAccount(normalizeDn(dn), { dn, attributes: afterAttributes });
    const reason = change.op === 'rename' ? 'renamed' : (invalidationReason(before, afterAttributes, changed) ?? 'changed');
    const invalidation = invalidationOf(before, afterAttributes, reason);
    await this.invalidator.invalidate(invalidation);
    this.metrics.invalidations.inc({ reason });
    this.logger.info({ account: event.entry, reason, changed }, 'config watcher: account routes dropped');
    return 'published';
  }

  /**
   * An account's routing values before the change as the source logged them: null for an add,
   * undefined when the source has no old values (accesslog without `logold`, polling).
   */
  private accountBefore(change: DirectoryChange, after: AttributeMap | null, mailHostAttribute: string): AttributeMap | null | undefined {
    if (change.op === 'add') return null;
    if (change.old === undefined) return undefined;
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

  private requireState(): WatcherState {
    if (!this.state) throw new Error('the watcher state is not open');
    return this.state;
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

/**
 * The directory's entry with the pinned values over it, for validation (a digested value, such as
 * a private key, is left as the directory has it: only its digest is held).
 */
function withPins(attributes: Attributes, pin: PinnedEntry | undefined): Attributes {
  if (!pin) return attributes;
  const out: Record<string, string[]> = {};
  const pinned = new Set(
    Object.keys(pin.held)
      .filter((n) => !isDigested(n))
      .map((n) => n.toLowerCase()),
  );
  for (const [name, values] of Object.entries(attributes)) if (!pinned.has(name.toLowerCase())) out[name] = [...values];
  for (const [name, values] of Object.entries(pin.held)) if (values !== null && !isDigested(name)) out[name] = [...values];
  return out;
}

function entryCsnOf(attributes: Attributes): string | undefined {
  for (const [name, values] of Object.entries(attributes)) if (name.toLowerCase() === 'entrycsn') return values[0];
  return undefined;
}
