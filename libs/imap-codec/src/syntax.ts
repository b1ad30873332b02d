/**
 * Character classes and small lexical helpers shared by the framer, the grammar and the encoders.
 *
 * RFC 9051 §9 (formal syntax): ATOM-CHAR, ASTRING-CHAR, tag, quoted, literal; RFC 7888 §3 (`{n+}`).
 */

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** atom-specials (RFC 9051 §9) minus CTL and SP, which are handled by range. */
const ATOM_SPECIALS = new Set([0x28, 0x29, 0x7b, 0x25, 0x2a, DQUOTE, BACKSLASH, 0x5d]); // ( ) { % * " \ ]

/** ATOM-CHAR: any CHAR except atom-specials (so 0x21–0x7e minus the set above). 8-bit bytes are not. */
export function isAtomChar(b: number): boolean {
  return b > SP && b < 0x7f && !ATOM_SPECIALS.has(b);
}

/** ASTRING-CHAR = ATOM-CHAR / resp-specials (`]`). */
export function isAstringChar(b: number): boolean {
  return isAtomChar(b) || b === 0x5d;
}

/** tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9). */
export function isTagChar(b: number): boolean {
  return isAstringChar(b) && b !== 0x2b;
}

/**
 * The proxy's tag grammar: RFC 9051's `tag = 1*<any ASTRING-CHAR except "+">`, at most this many
 * bytes. Clients use a few characters (`a1`, `A0001`, `1.261`); the proxy never sends a client's
 * tag upstream (it uses its own), so any tag it takes works whatever the mailbox server accepts,
 * and the bound only caps what each reply repeats. Longer is `* BAD`.
 */
export const IMAP_TAG_MAX_BYTES = 64;

/** True when `tag` is a valid IMAP tag (see {@link IMAP_TAG_MAX_BYTES}). */
export function isValidTag(tag: string): boolean {
  if (tag.length === 0 || tag.length > IMAP_TAG_MAX_BYTES) return false;
  for (let i = 0; i < tag.length; i++) if (!isTagChar(tag.charCodeAt(i))) return false;
  return true;
}

/** True when `s` is a non-empty atom (used for capabilities, verbs, mechanism names). */
export function isAtom(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isAtomChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * The tag of a command line: the bytes before the first SP (or the whole line), if they form a valid
 * tag. Undefined otherwise (the session answers `* BAD`).
 */
export function extractTag(line: Uint8Array): string | undefined {
  let end = line.indexOf(SP);
  if (end < 0) end = line.length;
  if (end === 0 || end > IMAP_TAG_MAX_BYTES) return undefined;
  for (let i = 0; i < end; i++) if (!isTagChar(line[i] as number)) return undefined;
  return Buffer.from(line.subarray(0, end)).toString('latin1');
}

/** What ends a line segment: nothing, a literal announcement, or something that looks like one but is not. */
export type LiteralMarker =
  | { readonly kind: 'none' }
  | { readonly kind: 'literal'; readonly size: number; readonly nonSync: boolean; readonly start: number }
  | { readonly kind: 'bad'; readonly start: number };

/** Digits beyond which a literal size is "absurd" without risking float imprecision. */
const MAX_SIZE_DIGITS = 15;

/**
 * Finds a literal announcement (`{n}` or `{n+}`) at the end of a line segment, outside quoted strings.
 * A trailing `{…}` whose content is not `1*DIGIT ["+"]` is `bad`. `size` is `Infinity` for more than
 * 15 digits. `start` is the index of the `{`.
 *
 * @param trackQuotes false for response text where quotes are not syntax (never used for commands).
 */
export function findLiteralMarker(line: Uint8Array, trackQuotes = true): LiteralMarker {
  if (line.length === 0 || line[line.length - 1] !== 0x7d) return { kind: 'none' };
  let inQuote = false;
  let lastBrace = -1;
  for (let i = 0; i < line.length; i++) {
    const b = line[i] as number;
    if (inQuote) {
      if (b === BACKSLASH) i++;
      else if (b === DQUOTE) inQuote = false;
    } else if (b === DQUOTE && trackQuotes) {
      inQuote = true;
    } else if (b === 0x7b) {
      lastBrace = i;
    }
  }
  if (inQuote || lastBrace < 0) return { kind: 'none' };
  let end = line.length - 1;
  const nonSync = line[end - 1] === 0x2b;
  if (nonSync) end--;
  const digits = line.subarray(lastBrace + 1, end);
  if (digits.length === 0) return { kind: 'bad', start: lastBrace };
  for (const d of digits) if (d < 0x30 || d > 0x39) return { kind: 'bad', start: lastBrace };
  const size = digits.length > MAX_SIZE_DIGITS ? Infinity : Number(Buffer.from(digits).toString('latin1'));
  return { kind: 'literal', size, nonSync, start: lastBrace };
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** True when every byte is printable US-ASCII (0x20–0x7e): safe inside a quoted string on any server. */
export function isQuotable(value: Uint8Array): boolean {
  for (const b of value) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/** UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** True when `text` contains CR, LF or NUL: such text would start a new protocol line. */
export function hasLineBreak(text: string): boolean {
  return /[\r\n\0]/.test(text);
}
