/**
 * LDIF reader, RFC 2849 content records (no change records).
 *
 * Supported: optional `version: 1`, comment lines (`#`, also folded), line folding (a line starting
 * with one space continues the previous one), `attr: value`, `attr:: base64` (decoded as UTF-8),
 * `dn::`, attribute options (`cn;lang-de`), several values per attribute, LF or CRLF line ends.
 * Rejected with {@link LdifSyntaxError}: `attr:< URL` values, `changetype`/`control` lines,
 * records without a `dn`, duplicate DNs. Pure: text in, entries out.
 */
import type { DirectoryEntry } from './directory';
import { normalizeDn } from './dn';
import { LdifSyntaxError } from './errors';

interface Line {
  readonly text: string;
  /** 1-based number of the physical line where this logical line starts. */
  readonly number: number;
}

const ATTRIBUTE_DESCRIPTION = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses LDIF content records into entries, in file order. */
export function parseLdif(text: string): DirectoryEntry[] {
  const records = splitRecords(unfold(text));
  const entries: DirectoryEntry[] = [];
  const seen = new Map<string, number>();
  records.forEach((record, index) => {
    const first = record[0];
    if (first === undefined) return;
    if (index === 0 && /^version:/i.test(first.text)) {
      const version = first.text.slice('version:'.length).trim();
      if (version !== '1') throw new LdifSyntaxError(`unsupported LDIF version "${version}"`, first.number);
      // The version line may stand alone or directly precede the first record.
      record = record.slice(1);
      if (record.length === 0) return;
    }
    const entry = parseRecord(record);
    const key = normalizeDn(entry.dn);
    const line = record[0]?.number ?? 0;
    const previous = seen.get(key);
    if (previous !== undefined) throw new LdifSyntaxError(`duplicate dn "${entry.dn}" (first at line ${previous})`, line);
    seen.set(key, line);
    entries.push(entry);
  });
  return entries;
}

/** Joins folded lines and drops comments; keeps empty lines (record separators). */
function unfold(text: string): Line[] {
  const physical = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const lines: { text: string; number: number; comment: boolean }[] = [];
  physical.forEach((raw, i) => {
    const number = i + 1;
    if (raw.startsWith(' ')) {
      const last = lines[lines.length - 1];
      if (last === undefined || (last.text === '' && !last.comment)) {
        throw new LdifSyntaxError('continuation line without a line to continue', number);
      }
      last.text += raw.slice(1);
      return;
    }
    lines.push({ text: raw, number, comment: raw.startsWith('#') });
  });
  return lines.filter((line) => !line.comment).map(({ text: t, number }) => ({ text: t, number }));
}

function splitRecords(lines: Line[]): Line[][] {
  const records: Line[][] = [];
  let current: Line[] = [];
  for (const line of lines) {
    if (line.text === '') {
      if (current.length > 0) records.push(current);
      current = [];
    } else {
      current.push(line);
    }
  }
  if (current.length > 0) records.push(current);
  return records;
}

function parseRecord(record: Line[]): DirectoryEntry {
  const [first, ...rest] = record;
  if (first === undefined) throw new LdifSyntaxError('empty record', 0);
  const head = parseLine(first);
  if (head.name.toLowerCase() !== 'dn') throw new LdifSyntaxError(`record must start with "dn:", found "${head.name}:"`, first.number);

  // Group values case-insensitively; the first spelling of a name is the one returned.
  const attributes = new Map<string, { name: string; values: string[] }>();
  for (const line of rest) {
    const { name, value } = parseLine(line);
    const lower = name.toLowerCase();
    if (lower === 'changetype' || lower === 'control') {
      throw new LdifSyntaxError(`"${name}:" lines (change records) are not supported`, line.number);
    }
    if (lower === 'dn') throw new LdifSyntaxError('second "dn:" in one record (missing blank line?)', line.number);
    const slot = attributes.get(lower);
    if (slot) slot.values.push(value);
    else attributes.set(lower, { name, values: [value] });
  }
  return {
    dn: head.value,
    attributes: Object.fromEntries([...attributes.values()].map(({ name, values }) => [name, values])),
  };
}

function parseLine(line: Line): { name: string; value: string } {
  const colon = line.text.indexOf(':');
  if (colon <= 0) throw new LdifSyntaxError(`expected "attribute: value", found "${truncate(line.text)}"`, line.number);
  const name = line.text.slice(0, colon);
  if (!ATTRIBUTE_DESCRIPTION.test(name)) throw new LdifSyntaxError(`invalid attribute name "${truncate(name)}"`, line.number);
  const rest = line.text.slice(colon + 1);
  if (rest.startsWith(':')) {
    const encoded = rest.slice(1).trim();
    if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
      throw new LdifSyntaxError(`invalid base64 value for "${name}"`, line.number);
    }
    try {
      return { name, value: utf8.decode(Buffer.from(encoded, 'base64')) };
    } catch (cause) {
      throw new LdifSyntaxError(`base64 value of "${name}" is not UTF-8 text`, line.number, { cause });
    }
  }
  if (rest.startsWith('<')) throw new LdifSyntaxError(`URL values ("${name}:<") are not supported`, line.number);
  // RFC 2849 FILL: spaces after the colon are not part of the value; a SAFE-STRING cannot start
  // with a space, so leading spaces are always FILL. Trailing spaces are kept.
  return { name, value: rest.replace(/^ +/, '') };
}

function truncate(text: string): string {
  // Enough to recognise the line in an error message without echoing a whole certificate.
  const MAX = 60;
  return text.length > MAX ? `${text.slice(0, MAX)}…` : text;
}
