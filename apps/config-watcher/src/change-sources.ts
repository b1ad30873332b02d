/**
 * Where the watcher reads the directory's changes from, cheapest first:
 *
 * - {@link AccesslogSource}: OpenLDAP's accesslog overlay (what delta-syncrepl reads). Every
 *   successful write is one log entry named by its start time; one indexed search from the cursor
 *   per poll, whatever the size of the directory, with the old values of what changed.
 * - {@link PollSource}: a directory without accesslog. One base read of the suffix's `contextCSN`
 *   per poll (maintained by the syncprov overlay); when it moved, a `modifyTimestamp` search for
 *   the config and account entries changed since the cursor. Old values and deletes are not
 *   visible this way: the periodic reconcile finds deleted config entries, and an account's
 *   routes are dropped on every change of it.
 * - {@link LdifSource}: the embedded directory of a single node, an LDIF file read again when it
 *   changes and diffed against the previous read.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { LdifDirectory, normalizeDn, parseLdif, attr, attrs, type DirectoryBackend, type DirectoryEntry } from '@postern/directory';
import {
  formatGeneralizedTime,
  parseGeneralizedTime,
  parseReqOld,
  OPERATIONAL,
  type ChangeOp,
  type ChangeSource,
  type DirectoryChange,
  type OldValues,
} from './directory-change';

/** How far back a first start reads the change log: a write made while the watcher started is not lost. */
const FIRST_START_LOOKBACK_MS = 60_000;

const REQ_TYPES: Readonly<Record<string, ChangeOp>> = { add: 'add', modify: 'modify', delete: 'delete', modrdn: 'rename' };

export class AccesslogSource implements ChangeSource {
  readonly kind = 'accesslog';

  constructor(
    private readonly directory: DirectoryBackend,
    /** The accesslog database's suffix (`cn=accesslog`). */
    private readonly logBase: string,
  ) {}

  async start(): Promise<string> {
    return formatGeneralizedTime(new Date(Date.now() - FIRST_START_LOOKBACK_MS));
  }

  async oldValues(): Promise<OldValues> {
    // The oldest logged modify tells (with `logold`, every modify logs entryCSN's old value).
    const [modify] = await this.directory.search('(&(objectClass=auditModify)(reqResult=0))', {
      base: this.logBase,
      attributes: ['reqOld'],
      sizeLimit: 1,
    });
    if (!modify) return 'unknown';
    return attrs(modify.attributes, 'reqOld').length > 0 ? 'carried' : 'missing';
  }

  async changesAfter(position: string): Promise<DirectoryChange[]> {
    // reqStart is unique and ordered (slapd adds a counter to the time); `>=` then drop the cursor itself.
    const entries = await this.directory.search(`(&(objectClass=auditWriteObject)(reqResult=0)(reqStart>=${position}))`, {
      base: this.logBase,
      attributes: ['reqStart', 'reqType', 'reqDN', 'reqNewDN', 'reqNewRDN', 'reqNewSuperior', 'reqMod', 'reqOld', 'entryCSN'],
    });
    const changes: DirectoryChange[] = [];
    for (const entry of entries) {
      const start = attr(entry.attributes, 'reqStart');
      const op = REQ_TYPES[attr(entry.attributes, 'reqType') ?? ''];
      const dn = attr(entry.attributes, 'reqDN');
      if (!start || start <= position || !op || !dn) continue;
      // With `logold` every modify and delete logs old values (entryCSN at least): none at all means
      // the log does not carry them, and the old state is unknown, not empty.
      const reqOld = attrs(entry.attributes, 'reqOld');
      changes.push({
        op,
        dn,
        newDn: op === 'rename' ? newDnOf(entry) : undefined,
        old: reqOld.length > 0 || op === 'add' ? parseReqOld(reqOld) : undefined,
        modified: modifiedAttributes(attrs(entry.attributes, 'reqMod')),
        csn: attr(entry.attributes, 'entryCSN') ?? start,
        time: parseGeneralizedTime(start),
        position: start,
      });
    }
    return changes.sort((a, b) => (a.position < b.position ? -1 : 1));
  }

  async close(): Promise<void> {
    await this.directory.close();
  }
}

/** The DN after a modrdn: `reqNewDN` (OpenLDAP 2.5), else the new RDN under the new or old parent. */
function newDnOf(entry: DirectoryEntry): string | undefined {
  const logged = attr(entry.attributes, 'reqNewDN');
  if (logged) return logged;
  const rdn = attr(entry.attributes, 'reqNewRDN');
  const dn = attr(entry.attributes, 'reqDN') ?? '';
  if (!rdn) return undefined;
  const parent = attr(entry.attributes, 'reqNewSuperior') ?? dn.slice(dn.indexOf(',') + 1);
  return `${rdn},${parent}`;
}

/** The attribute names of accesslog's `reqMod` lines (`name:= value`, `name:+ value`, `name:-`). */
function modifiedAttributes(lines: readonly string[]): string[] {
  const names = new Set<string>();
  for (const line of lines) {
    const name = line.slice(0, line.indexOf(':'));
    if (name && !OPERATIONAL.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

const WATCHED_CLASSES = '(|(objectClass=zimbraGlobalConfig)(objectClass=zimbraServer)(objectClass=zimbraDomain)(objectClass=zimbraAccount))';

export class PollSource implements ChangeSource {
  readonly kind = 'poll';
  private lastContextCsn: string | undefined;
  /** CSNs already reported for the cursor's second (modifyTimestamp has whole seconds). */
  private seenAtPosition = new Set<string>();

  constructor(
    private readonly directory: DirectoryBackend,
    private readonly suffix: string,
  ) {}

  async start(): Promise<string> {
    return formatGeneralizedTime(new Date(Date.now() - FIRST_START_LOOKBACK_MS)).replace(/\.\d+Z$/, 'Z');
  }

  async oldValues(): Promise<OldValues> {
    return 'missing';
  }

  async changesAfter(position: string): Promise<DirectoryChange[]> {
    const [root] = await this.directory.search('(objectClass=*)', { base: this.suffix, scope: 'base', attributes: ['contextCSN'] });
    const contextCsn = root ? attrs(root.attributes, 'contextCSN').sort().join(' ') : '';
    // Without syncprov there is no contextCSN: search every time (one indexed search).
    if (contextCsn !== '' && contextCsn === this.lastContextCsn) return [];
    const entries = await this.directory.search(`(&${WATCHED_CLASSES}(modifyTimestamp>=${position}))`, {
      base: this.suffix,
      attributes: ['*', 'entryCSN', 'modifyTimestamp'],
    });
    const changes: DirectoryChange[] = [];
    for (const entry of entries) {
      const stamp = attr(entry.attributes, 'modifyTimestamp') ?? position;
      const csn = attr(entry.attributes, 'entryCSN') ?? `${stamp}:${normalizeDn(entry.dn)}`;
      if (stamp === position && this.seenAtPosition.has(csn)) continue;
      changes.push({ op: 'modify', dn: entry.dn, after: entry, csn, time: parseGeneralizedTime(stamp), position: stamp });
    }
    changes.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    const newest = changes.at(-1)?.position;
    if (newest !== undefined) {
      if (newest !== position) this.seenAtPosition = new Set();
      for (const change of changes) if (change.position === newest) this.seenAtPosition.add(change.csn);
    }
    this.lastContextCsn = contextCsn;
    return changes;
  }

  async close(): Promise<void> {
    await this.directory.close();
  }
}

/** The LDIF file as a change source, and the directory it currently holds. */
export class LdifSource implements ChangeSource {
  readonly kind = 'ldif';
  private entries = new Map<string, DirectoryEntry>();
  private digest = '';
  private mtimeMs = -1;

  private constructor(private readonly path: string) {}

  /** Reads the file once (a file that cannot be read or parsed fails the start). */
  static async open(path: string): Promise<LdifSource> {
    const source = new LdifSource(path);
    let read = await source.read();
    // Caught mid-write: a few more tries before giving up.
    for (let attempt = 0; !read && attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      read = await source.read();
    }
    if (!read) throw new Error(`${path}: changes while it is read; cannot be read whole`);
    source.adopt(read);
    return source;
  }

  /** The directory as the file held at the last read. */
  get directory(): DirectoryBackend {
    return new LdifDirectory([...this.entries.values()]);
  }

  async start(): Promise<string> {
    return this.digest;
  }

  async oldValues(): Promise<OldValues> {
    // The previous read of the file is the old state.
    return 'carried';
  }

  async changesAfter(position: string): Promise<DirectoryChange[]> {
    // The held entries are what the watcher has handled (a restarted watcher reconciles the config
    // entries against the file first), so the diff is against them rather than against `position`.
    void position;
    const read = await this.read();
    if (!read || read.digest === this.digest) return [];
    const before = this.entries;
    this.adopt(read);
    return diffEntries(before, this.entries, read.time, read.digest);
  }

  async close(): Promise<void> {}

  private adopt(read: { entries: DirectoryEntry[]; digest: string }): void {
    this.entries = new Map(read.entries.map((e) => [normalizeDn(e.dn), e]));
    this.digest = read.digest;
  }

  /** The file's entries when it changed since the last read (a file caught mid-write is read next time). */
  private async read(): Promise<{ entries: DirectoryEntry[]; digest: string; time: Date } | undefined> {
    let info;
    try {
      info = await stat(this.path);
    } catch (error) {
      throw new Error(`${this.path}: ${(error as Error).message}`, { cause: error });
    }
    if (info.mtimeMs === this.mtimeMs && this.digest !== '') return { entries: [...this.entries.values()], digest: this.digest, time: info.mtime };
    const text = await readFile(this.path, 'utf8');
    // A file caught mid-write (its size or time moved while it was read) is read again next time.
    const after = await stat(this.path);
    if (after.mtimeMs !== info.mtimeMs || after.size !== Buffer.byteLength(text)) return undefined;
    const entries = parseLdif(text);
    this.mtimeMs = info.mtimeMs;
    return { entries, digest: `ldif:${createHash('sha256').update(text).digest('hex').slice(0, 32)}`, time: info.mtime };
  }
}

/** The writes that turn `before` into `after`; an entry that left one DN for another with the same zimbraId is a rename. */
export function diffEntries(
  before: ReadonlyMap<string, DirectoryEntry>,
  after: ReadonlyMap<string, DirectoryEntry>,
  time: Date,
  position: string,
): DirectoryChange[] {
  const changes: DirectoryChange[] = [];
  const csnOf = (dn: string, entry: DirectoryEntry | undefined) =>
    `ldif:${createHash('sha256')
      .update(dn)
      .update(JSON.stringify(entry?.attributes ?? null))
      .digest('hex')
      .slice(0, 32)}`;
  const removed = new Map<string, DirectoryEntry>();
  for (const [dn, entry] of before) if (!after.has(dn)) removed.set(dn, entry);
  for (const [dn, entry] of after) {
    const old = before.get(dn);
    if (old && JSON.stringify(old.attributes) === JSON.stringify(entry.attributes)) continue;
    const id = attr(entry.attributes, 'zimbraId');
    const renamedFrom = old ? undefined : [...removed].find(([, r]) => id !== undefined && attr(r.attributes, 'zimbraId') === id);
    if (renamedFrom) {
      removed.delete(renamedFrom[0]);
      changes.push({
        op: 'rename',
        dn: renamedFrom[1].dn,
        newDn: entry.dn,
        old: renamedFrom[1].attributes,
        after: entry,
        csn: csnOf(dn, entry),
        time,
        position,
      });
    } else {
      changes.push({ op: old ? 'modify' : 'add', dn: entry.dn, old: old?.attributes, after: entry, csn: csnOf(dn, entry), time, position });
    }
  }
  for (const [dn, entry] of removed)
    changes.push({ op: 'delete', dn: entry.dn, old: entry.attributes, after: null, csn: csnOf(dn, undefined), time, position });
  return changes;
}
