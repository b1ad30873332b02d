/**
 * What the watcher knows of the config: each global config, server and domain entry as it was
 * last published, and how a directory entry becomes one (which scope, which name, which values).
 *
 * Values are kept as the directory has them, minus what changes on every write (operational
 * attributes) and what must not travel: passwords are dropped and a private key becomes its
 * SHA-256, so a changed key is still a visible change. Of an account only what routes it is kept.
 */
import { createHash } from 'node:crypto';
import type { AttributeMap, ConfigEntry, ConfigScope } from '@postern/contracts';
import { attr, attrs, normalizeDn, type Attributes } from '@postern/directory';
import { OPERATIONAL } from './directory-change';

/** Attributes never published, whatever the entry. */
const SECRET = new Set(['userpassword', 'zimbrapassword']);
/** Published as their digest only. */
const DIGESTED = new Set(['zimbrasslprivatekey']);

/** Whether an attribute is published as its digest only (its value cannot be restored from an event). */
export function isDigested(name: string): boolean {
  return DIGESTED.has(name.toLowerCase());
}

/** What routes an account: its names, its server, its status and its external route. */
export function isRoutingAttribute(name: string, mailHostAttribute = 'zimbraMailHost'): boolean {
  const n = name.toLowerCase();
  return (
    n === 'zimbraid' ||
    n === 'zimbramaildeliveryaddress' ||
    n === 'zimbramailalias' ||
    n === 'zimbraaccountstatus' ||
    n === mailHostAttribute.toLowerCase() ||
    n === 'zimbrareverseproxyuseexternalroute' ||
    n === 'zimbrareverseproxyuseexternalrouteifaccountnotexist' ||
    n.startsWith('zimbraexternal')
  );
}

/** Of a domain, what decides where its accounts go (external routes). */
export function isDomainRoutingAttribute(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith('zimbrareverseproxyuseexternalroute') || n.startsWith('zimbraexternal');
}

/** The scope of an entry, from its object classes; undefined for entries Postern does not watch. */
export function scopeOf(attributes: Attributes): ConfigScope | undefined {
  const classes = attrs(attributes, 'objectClass').map((c) => c.toLowerCase());
  if (classes.includes('zimbraglobalconfig')) return 'global';
  if (classes.includes('zimbraserver')) return 'server';
  if (classes.includes('zimbradomain')) return 'domain';
  if (classes.includes('zimbraaccount')) return 'account';
  return undefined;
}

/** The entry's name in events and KV keys: `global`, the server's service host name, the domain name, the account name. */
export function entryNameOf(scope: ConfigScope, dn: string, attributes: Attributes): string {
  switch (scope) {
    case 'global':
      return 'global';
    case 'server':
      return (attr(attributes, 'zimbraServiceHostname') ?? attr(attributes, 'cn') ?? dn).toLowerCase();
    case 'domain':
      return (attr(attributes, 'zimbraDomainName') ?? dn).toLowerCase();
    case 'account':
      return (attr(attributes, 'zimbraMailDeliveryAddress') ?? attr(attributes, 'uid') ?? dn).toLowerCase();
  }
}

/** The values of an entry as published for its scope (sorted by name, secrets out). */
export function publishedAttributes(scope: ConfigScope, attributes: Attributes, mailHostAttribute?: string): AttributeMap {
  const out: Record<string, string[]> = {};
  for (const name of Object.keys(attributes).sort()) {
    const lower = name.toLowerCase();
    if (OPERATIONAL.has(lower) || SECRET.has(lower) || (attributes[name] ?? []).length === 0) continue;
    if (scope === 'account' && !isRoutingAttribute(name, mailHostAttribute)) continue;
    const values = attributes[name] ?? [];
    out[name] = DIGESTED.has(lower) ? values.map((v) => `sha256:${createHash('sha256').update(v).digest('hex')}`) : [...values];
  }
  return out;
}

/** Attribute names whose values differ (names compared case-insensitively, values in order). */
export function changedAttributes(before: AttributeMap | null, after: AttributeMap | null): string[] {
  const index = (map: AttributeMap | null) => new Map(Object.entries(map ?? {}).map(([k, v]) => [k.toLowerCase(), { name: k, values: JSON.stringify(v) }]));
  const b = index(before);
  const a = index(after);
  const changed: string[] = [];
  for (const [key, value] of a) if (b.get(key)?.values !== value.values) changed.push(value.name);
  for (const [key, value] of b) if (!a.has(key)) changed.push(value.name);
  return changed.sort();
}

/** The published global, server and domain entries, by KV key, with a DN index. */
export class ConfigModel {
  private readonly entries = new Map<string, ConfigEntry>();
  private readonly keysByDn = new Map<string, string>();

  get size(): number {
    return this.entries.size;
  }

  all(): ConfigEntry[] {
    return [...this.entries.values()];
  }

  get(key: string): ConfigEntry | undefined {
    return this.entries.get(key);
  }

  byDn(dn: string): { key: string; entry: ConfigEntry } | undefined {
    const key = this.keysByDn.get(normalizeDn(dn));
    const entry = key === undefined ? undefined : this.entries.get(key);
    return key === undefined || entry === undefined ? undefined : { key, entry };
  }

  set(key: string, entry: ConfigEntry): void {
    const old = this.entries.get(key);
    if (old) this.keysByDn.delete(normalizeDn(old.dn));
    this.entries.set(key, entry);
    this.keysByDn.set(normalizeDn(entry.dn), key);
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old) this.keysByDn.delete(normalizeDn(old.dn));
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.keysByDn.clear();
  }

  /** The global config's attributes ({} before there is one). */
  get globalAttributes(): AttributeMap {
    return this.entries.get('global')?.attributes ?? {};
  }

  servers(): ConfigEntry[] {
    return this.all().filter((e) => e.scope === 'server');
  }
}
