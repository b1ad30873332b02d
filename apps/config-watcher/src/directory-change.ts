/**
 * One write to the directory, as every change source reports it: what happened to which DN, the
 * values it had before when the source knows them, and the directory's CSN and time.
 */
import type { Attributes, DirectoryEntry } from '@postern/directory';

export type ChangeOp = 'add' | 'modify' | 'delete' | 'rename';

export interface DirectoryChange {
  readonly op: ChangeOp;
  readonly dn: string;
  /** The DN after a rename. */
  readonly newDn?: string;
  /**
   * The entry's values before the change, as far as the source knows them: every attribute for a
   * delete, the modified ones for a modify (accesslog's `reqOld`); undefined when unknown.
   */
  readonly old?: Attributes;
  /** The attributes a modify wrote, when the source knows them (accesslog's `reqMod`). */
  readonly modified?: readonly string[];
  /** The entry after the change, when the source has it (the LDIF file); otherwise it is read. */
  readonly after?: DirectoryEntry | null;
  /** The directory's change sequence number (or a digest of the change where there is none). */
  readonly csn: string;
  /** When the directory made the change. */
  readonly time: Date;
  /** The source's position after this change (what the cursor is set to once it is handled). */
  readonly position: string;
}

/** Whether a source's changes carry the values before them: `unknown` until its log holds a modify. */
export type OldValues = 'carried' | 'missing' | 'unknown';

/** A place the watcher reads changes from, in order, from a cursor. */
export interface ChangeSource {
  /** `accesslog`, `poll` or `ldif`. */
  readonly kind: 'accesslog' | 'poll' | 'ldif';
  /** The position to start from when there is no cursor yet (now). */
  start(): Promise<string>;
  /** The changes after `position`, oldest first (at most `limit`). Rejects when the directory cannot be read. */
  changesAfter(position: string, limit: number): Promise<DirectoryChange[]>;
  /** Whether its changes carry old values (accesslog: only with `logold`). */
  oldValues(): Promise<OldValues>;
  close(): Promise<void>;
}

/** LDAP generalized time (`20261201031022.000002Z`) to a Date (the sub-second part is a counter in accesslog). */
export function parseGeneralizedTime(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?Z$/.exec(text);
  if (!m) throw new Error(`not a generalized time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = m;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

/** A Date as LDAP generalized time with accesslog's six-digit fraction. */
export function formatGeneralizedTime(date: Date, fraction = 0): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
    `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}.${pad(fraction, 6)}Z`
  );
}

/** The time an entryCSN names (`20261201031022.284396Z#000000#000#000000`). */
export function csnTime(csn: string): Date | undefined {
  const m = /^(\d{14})\.(\d{6})Z#/.exec(csn);
  if (!m) return undefined;
  const date = parseGeneralizedTime(`${m[1]}Z`);
  return new Date(date.getTime() + Math.floor(Number(m[2]) / 1000));
}

/**
 * accesslog's `reqOld` values (`attr: value`, one line per value) as attributes. Operational
 * attributes are left out: they change on every write and say nothing about the config.
 */
export function parseReqOld(lines: readonly string[]): Attributes {
  const out: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    if (OPERATIONAL.has(name.toLowerCase())) continue;
    const value = line.slice(colon + 1).replace(/^ /, '');
    (out[name] ??= []).push(value);
  }
  return out;
}

/** Attributes every write touches, or that only the server maintains. */
export const OPERATIONAL = new Set([
  'entrycsn',
  'entryuuid',
  'modifiersname',
  'modifytimestamp',
  'creatorsname',
  'createtimestamp',
  'structuralobjectclass',
  'entrydn',
  'subschemasubentry',
  'hassubordinates',
  'contextcsn',
]);
