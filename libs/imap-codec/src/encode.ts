/**
 * IMAP encoders: server responses to the client, and commands to the upstream.
 *
 * RFC 9051 §7.1 (status responses, response codes), §7.2.2 (CAPABILITY), §7.5 (continuation request),
 * §4.3 (quoted strings and literals), §9 (syntax); RFC 7888 §3 (`{n+}`); RFC 2971 §3.1–3.2 (ID).
 *
 * Encoders throw TypeError on values that would break framing (CR, LF or NUL in text, an invalid
 * tag): those are bugs in the caller, never something to send.
 */
import type { ImapIdParam } from './commands/id';
import { IMAP_ID_DEFAULTS } from './limits';
import { hasLineBreak, isAtom, isQuotable, isValidTag, toBytes } from './syntax';

const CRLF = Buffer.from('\r\n');

/** A status of a tagged response. */
export type ImapTaggedStatus = 'OK' | 'NO' | 'BAD';

function checkTag(tag: string): void {
  if (!isValidTag(tag)) throw new TypeError('invalid IMAP tag');
}

function checkText(text: string, what: string): void {
  if (hasLineBreak(text)) throw new TypeError(`${what} contains CR, LF or NUL`);
}

function statusLine(prefix: string, status: string, text: string, code?: string): Buffer {
  checkText(text, 'response text');
  let line = `${prefix} ${status}`;
  if (code !== undefined) {
    if (code.length === 0 || code.includes(']')) throw new TypeError('invalid response code');
    checkText(code, 'response code');
    line += ` [${code}]`;
  }
  if (text.length > 0) line += ` ${text}`;
  return Buffer.from(`${line}\r\n`, 'utf8');
}

/** `tag OK|NO|BAD [code] text` CRLF. `code` is the inside of the brackets, e.g. `AUTHENTICATIONFAILED`. */
export function encodeTagged(tag: string, status: ImapTaggedStatus, text: string, code?: string): Uint8Array {
  checkTag(tag);
  return statusLine(tag, status, text, code);
}

/** `* text` CRLF (e.g. `BAD invalid tag`, `BYE Zimbra IMAP server terminating connection`). */
export function encodeUntagged(text: string): Uint8Array {
  checkText(text, 'response text');
  return Buffer.from(`* ${text}\r\n`, 'utf8');
}

/** `* OK|NO|BAD|BYE|PREAUTH [code] text` CRLF. */
export function encodeUntaggedStatus(status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH', text: string, code?: string): Uint8Array {
  return statusLine('*', status, text, code);
}

/** `+ text` CRLF: a continuation request (RFC 9051 §7.5); empty text for an empty SASL challenge. */
export function encodeContinuation(text = ''): Uint8Array {
  checkText(text, 'continuation text');
  return Buffer.from(`+ ${text}\r\n`, 'utf8');
}

/** `* CAPABILITY a b c` CRLF; every capability must be an atom. */
export function encodeCapability(capabilities: readonly string[]): Uint8Array {
  for (const c of capabilities) if (!isAtom(c)) throw new TypeError(`capability is not an atom: ${JSON.stringify(c)}`);
  return Buffer.from(`* CAPABILITY ${capabilities.join(' ')}\r\n`, 'latin1');
}

/** A quoted string, or null when the value is not printable ASCII. */
export function quoteString(value: string | Uint8Array): Uint8Array | null {
  const quoted = quotedText(value);
  return quoted === null ? null : Buffer.from(quoted, 'latin1');
}

/** {@link quoteString} as text (printable ASCII, so latin1 and UTF-8 alike), or null. */
function quotedText(value: string | Uint8Array): string | null {
  let text: string;
  if (typeof value === 'string') {
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) return null;
    }
    text = value;
  } else {
    if (!isQuotable(value)) return null;
    text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  }
  return text.includes('\\') || text.includes('"') ? `"${text.replace(/[\\"]/g, '\\$&')}"` : `"${text}"`;
}

/**
 * An astring for the wire: a quoted string when the value is printable ASCII, else a literal
 * `{n}\r\n<bytes>` (or `{n+}\r\n<bytes>` with `literalPlus`). A synchronizing literal cannot be sent
 * in one write to a server: use {@link encodeCommand} (which splits it) when sending commands upstream.
 */
export function quoteAstring(value: string | Uint8Array, options: { literalPlus?: boolean } = {}): Uint8Array {
  const bytes = toBytes(value);
  return quoteString(bytes) ?? Buffer.concat([Buffer.from(`{${bytes.length}${options.literalPlus ? '+' : ''}}\r\n`), bytes]);
}

/** An argument of {@link encodeCommand}. */
export type ImapArg =
  /** A string: quoted, or a literal when not quotable (or when `forceLiterals`). */
  | string
  | Uint8Array
  /** NIL */
  | null
  /** Sent as is; must be an atom. */
  | { readonly atom: string }
  /** A parenthesised list. */
  | readonly ImapArg[];

/** Options of the command encoders. */
export interface ImapCommandEncodeOptions {
  /** The upstream announced LITERAL+ (RFC 7888): literals go `{n+}` in the same write. */
  readonly literalPlus: boolean;
  /** Send every string argument as a literal (Zimbra `imap_literalauth`, the default for LOGIN). */
  readonly forceLiterals?: boolean;
}

/**
 * What to write for one command: write `chunks[0]`, then for each following chunk wait for the
 * upstream's `+` continuation before writing it. A tagged `NO`/`BAD` instead of `+` ends the
 * command: write nothing more. With LITERAL+ there is always exactly one chunk.
 */
export type ImapCommandChunks = readonly Uint8Array[];

/**
 * Encodes `tag VERB args…` CRLF into chunks separated by synchronizing literals. Quoted strings,
 * atoms and punctuation are gathered as text and become one buffer each time a literal's bytes
 * (or the end) come: a command is a handful of allocations, not one per token.
 */
export function encodeCommand(tag: string, verb: string, args: readonly ImapArg[], options: ImapCommandEncodeOptions): ImapCommandChunks {
  checkTag(tag);
  if (!isAtom(verb)) throw new TypeError('verb is not an atom');
  const chunks: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let text = `${tag} ${verb}`;
  const flushText = (): void => {
    current.push(Buffer.from(text, 'latin1'));
    text = '';
  };
  const put = (arg: ImapArg): void => {
    if (arg === null) {
      text += 'NIL';
    } else if (typeof arg === 'string' || arg instanceof Uint8Array) {
      const quoted = options.forceLiterals ? null : quotedText(arg);
      if (quoted !== null) {
        text += quoted;
        return;
      }
      const bytes = toBytes(arg);
      text += options.literalPlus ? `{${bytes.length}+}\r\n` : `{${bytes.length}}\r\n`;
      flushText();
      if (!options.literalPlus) {
        chunks.push(Buffer.concat(current));
        current = [];
      }
      current.push(bytes);
    } else if ('atom' in arg) {
      if (!isAtom(arg.atom)) throw new TypeError('argument is not an atom');
      text += arg.atom;
    } else {
      text += '(';
      arg.forEach((item, i) => {
        if (i > 0) text += ' ';
        put(item);
      });
      text += ')';
    }
  };
  for (const arg of args) {
    text += ' ';
    put(arg);
  }
  text += '\r\n';
  flushText();
  // One piece is the gathered text alone (a literal's bytes are always followed by text).
  chunks.push(current.length === 1 ? current[0]! : Buffer.concat(current));
  return chunks;
}

/**
 * `tag LOGIN user password` for the upstream. By default both are literals, like Zimbra's
 * `imap_literalauth` (no quoting pitfalls, any byte allowed); `literals: 'when-needed'` quotes
 * printable-ASCII values. Without LITERAL+ this is three chunks: `tag LOGIN {n}`, `user {m}`, `password`.
 */
export function encodeLoginCommand(
  tag: string,
  user: string,
  password: string | Uint8Array,
  options: { literalPlus: boolean; literals?: 'always' | 'when-needed' },
): ImapCommandChunks {
  return encodeCommand(tag, 'LOGIN', [user, password], { literalPlus: options.literalPlus, forceLiterals: (options.literals ?? 'always') === 'always' });
}

function checkIdParams(params: readonly ImapIdParam[] | null): void {
  if (params === null) return;
  const l = IMAP_ID_DEFAULTS;
  if (params.length > l.maxPairs) throw new RangeError('more than 30 ID parameters (RFC 2971 §3.3)');
  for (const p of params) {
    if (Buffer.byteLength(p.key) > l.maxKeyBytes) throw new RangeError('ID field name over 30 bytes (RFC 2971 §3.3)');
    if (p.value !== null && Buffer.byteLength(p.value) > l.maxValueBytes) throw new RangeError('ID value over 1024 bytes (RFC 2971 §3.3)');
  }
}

function idList(params: readonly ImapIdParam[] | null): ImapArg {
  return params === null ? null : params.flatMap((p) => [p.key, p.value]);
}

/**
 * `tag ID (…)` for the upstream (X-ORIGINATING-IP, X-VIA, name, version). Values outside printable
 * ASCII become literals (so chunks, without LITERAL+). Throws RangeError past the RFC 2971 §3.3
 * bounds: truncate client-derived values (X-VIA) before calling.
 */
export function encodeIdCommand(tag: string, params: readonly ImapIdParam[] | null, options: { literalPlus: boolean }): ImapCommandChunks {
  checkIdParams(params);
  return encodeCommand(tag, 'ID', [idList(params)], { literalPlus: options.literalPlus });
}

/** `* ID (…)` or `* ID NIL` CRLF (RFC 2971 §3.2). Values outside printable ASCII are sent as literals. */
export function encodeIdResponse(params: readonly ImapIdParam[] | null): Uint8Array {
  checkIdParams(params);
  const parts: Uint8Array[] = [Buffer.from('* ID ')];
  if (params === null) {
    parts.push(Buffer.from('NIL'));
  } else {
    parts.push(Buffer.from('('));
    params.forEach((p, i) => {
      if (i > 0) parts.push(Buffer.from(' '));
      parts.push(quoteAstring(p.key), Buffer.from(' '), p.value === null ? Buffer.from('NIL') : quoteAstring(p.value));
    });
    parts.push(Buffer.from(')'));
  }
  parts.push(CRLF);
  return Buffer.concat(parts);
}
