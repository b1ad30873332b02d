/**
 * The embedded directory: entries from an LDIF file held in memory, searched with the same RFC 4515
 * filters the LDAP backend sends. Serves the single-node stack and unit tests of the query layer.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Attributes, DirectoryBackend, DirectoryEntry, SearchOptions } from './directory';
import { isWithinBase, normalizeDn } from './dn';
import { DirectoryUnavailableError } from './errors';
import { matchesFilter, parseFilter } from './filter';
import { parseLdif } from './ldif';

/** How often a directory read from a file looks at the file again. */
const FILE_CHECK_MS = 250;

/** Options of {@link LdifDirectory}. */
export interface LdifDirectoryOptions {
  /** Default search base when a search gives none; `''` (the default) searches every entry. */
  readonly baseDn?: string;
}

/**
 * A read-only {@link DirectoryBackend} over entries in memory.
 *
 * Subtree and base searches; the base is matched as a DN suffix (case-insensitive, spaces around
 * commas and `=` ignored). A base that matches no entry yields no results rather than LDAP's
 * noSuchObject. Without a schema it cannot know matching rules, so values compare as caseIgnoreMatch
 * except for a few case-exact attributes (see {@link matchesFilter}).
 */
export class LdifDirectory implements DirectoryBackend {
  private entries: readonly DirectoryEntry[];
  private readonly baseDn: string;
  private closed = false;
  /** The file the entries came from: read again when it changes (checked at most every {@link FILE_CHECK_MS}). */
  private file: { readonly path: string; mtimeMs: number; checkedAt: number } | undefined;

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
    const mtimeMs = statSync(path).mtimeMs;
    const directory = LdifDirectory.fromString(readFileSync(path, 'utf8'), options);
    directory.file = { path, mtimeMs, checkedAt: Date.now() };
    return directory;
  }

  /**
   * A directory from a file serves the file as it is now: an edit is seen by the next search (the
   * config-watcher publishes it at the same time). A file caught mid-write, or that no longer
   * parses, leaves the previous entries in place until it is whole again.
   */
  private refreshFromFile(): void {
    const file = this.file;
    if (!file || Date.now() - file.checkedAt < FILE_CHECK_MS) return;
    file.checkedAt = Date.now();
    try {
      const before = statSync(file.path);
      if (before.mtimeMs === file.mtimeMs) return;
      const text = readFileSync(file.path, 'utf8');
      const after = statSync(file.path);
      if (after.mtimeMs !== before.mtimeMs || after.size !== Buffer.byteLength(text)) return;
      this.entries = parseLdif(text);
      file.mtimeMs = before.mtimeMs;
    } catch {
      // Kept: the previous entries (the watcher reports the broken file).
    }
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.length;
  }

  async search(filter: string, options: SearchOptions = {}): Promise<DirectoryEntry[]> {
    if (this.closed) throw new DirectoryUnavailableError('the LDIF directory is closed');
    this.refreshFromFile();
    const parsed = parseFilter(filter);
    const base = options.base ?? this.baseDn;
    const limit = options.sizeLimit !== undefined && options.sizeLimit > 0 ? options.sizeLimit : Infinity;
    const results: DirectoryEntry[] = [];
    for (const entry of this.entries) {
      if (results.length >= limit) break;
      if (options.scope === 'base' ? normalizeDn(entry.dn) !== normalizeDn(base) : !isWithinBase(entry.dn, base)) continue;
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
