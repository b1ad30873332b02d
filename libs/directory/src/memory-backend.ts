/**
 * The embedded directory: entries from an LDIF file held in memory, searched with the same RFC 4515
 * filters the LDAP backend sends. Serves the single-node stack and unit tests of the query layer.
 */
import { readFileSync } from 'node:fs';
import type { Attributes, DirectoryBackend, DirectoryEntry, SearchOptions } from './directory';
import { isWithinBase } from './dn';
import { DirectoryUnavailableError } from './errors';
import { matchesFilter, parseFilter } from './filter';
import { parseLdif } from './ldif';

/** Options of {@link LdifDirectory}. */
export interface LdifDirectoryOptions {
  /** Default search base when a search gives none; `''` (the default) searches every entry. */
  readonly baseDn?: string;
}

/**
 * A read-only {@link DirectoryBackend} over entries in memory.
 *
 * Subtree searches only; the base is matched as a DN suffix (case-insensitive, spaces around
 * commas and `=` ignored). A base that matches no entry yields no results rather than LDAP's
 * noSuchObject. Without a schema it cannot know matching rules, so values compare as caseIgnoreMatch
 * except for a few case-exact attributes (see {@link matchesFilter}).
 */
export class LdifDirectory implements DirectoryBackend {
  private readonly entries: readonly DirectoryEntry[];
  private readonly baseDn: string;
  private closed = false;

  constructor(entries: readonly DirectoryEntry[], options: LdifDirectoryOptions = {}) {
    this.entries = entries;
    this.baseDn = options.baseDn ?? '';
  }

  /** Parses LDIF text (see {@link parseLdif}); throws {@link LdifSyntaxError} when it is malformed. */
  static fromString(ldif: string, options: LdifDirectoryOptions = {}): LdifDirectory {
    return new LdifDirectory(parseLdif(ldif), options);
  }

  /**
   * Reads and parses an LDIF file. Synchronous on purpose: it runs once at boot, before anything
   * is served, and a directory that cannot be read must stop the boot right there.
   */
  static fromFile(path: string, options: LdifDirectoryOptions = {}): LdifDirectory {
    return LdifDirectory.fromString(readFileSync(path, 'utf8'), options);
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.length;
  }

  async search(filter: string, options: SearchOptions = {}): Promise<DirectoryEntry[]> {
    if (this.closed) throw new DirectoryUnavailableError('the LDIF directory is closed');
    const parsed = parseFilter(filter);
    const base = options.base ?? this.baseDn;
    const limit = options.sizeLimit !== undefined && options.sizeLimit > 0 ? options.sizeLimit : Infinity;
    const results: DirectoryEntry[] = [];
    for (const entry of this.entries) {
      if (results.length >= limit) break;
      if (!isWithinBase(entry.dn, base)) continue;
      if (!matchesFilter(parsed, entry.attributes)) continue;
      results.push({ dn: entry.dn, attributes: select(entry.attributes, options.attributes) });
    }
    return results;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Copies the requested attributes (`*` = all, `1.1` = none, names case-insensitive). */
function select(attributes: Attributes, wanted: readonly string[] | undefined): Attributes {
  const all = wanted === undefined || wanted.length === 0 || wanted.includes('*');
  const names = new Set((wanted ?? []).map((name) => name.toLowerCase()));
  const out: Record<string, readonly string[]> = {};
  for (const [name, values] of Object.entries(attributes)) {
    if (all || names.has(name.toLowerCase())) out[name] = [...values];
  }
  return out;
}
