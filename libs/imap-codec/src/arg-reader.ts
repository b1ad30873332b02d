/**
 * A cursor over a framed command's arguments: atoms, quoted strings, literals, NIL, parenthesised
 * lists. Failures throw {@link ImapSyntaxError}, which `parseCommand` turns into a result.
 *
 * RFC 9051 §4.1–4.5 (atom, number, string, NIL, list), §9 (astring, quoted, QUOTED-CHAR, literal).
 */
import type { ImapFrame } from './framer';
import { isAstringChar, isAtomChar } from './syntax';

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Why a command did not parse. */
export type ImapParseErrorReason =
  'bad-tag' | 'bad-verb' | 'syntax' | 'unexpected-arguments' | 'missing-arguments' | 'nul-byte' | 'invalid-utf8' | 'id-too-large' | 'bad-initial-response';

/** A grammar violation inside a command (internal; `parseCommand` returns it as `{ ok: false }`). */
export class ImapSyntaxError extends Error {
  override readonly name = 'ImapSyntaxError';
  constructor(
    readonly reason: ImapParseErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Reads arguments from a frame: segment by segment, with literal `i` after segment `i`. */
export class ArgReader {
  private seg = 0;
  private pos = 0;

  constructor(private readonly frame: ImapFrame) {}

  private get line(): Uint8Array {
    return this.frame.segments[this.seg] ?? new Uint8Array(0);
  }

  /** True at the end of the current segment with a literal following. */
  private atLiteral(): boolean {
    return this.pos >= this.line.length && this.seg < this.frame.literals.length;
  }

  /** True when every argument was read. */
  atEnd(): boolean {
    return this.pos >= this.line.length && this.seg >= this.frame.literals.length;
  }

  /** Throws unless at the end. */
  end(): void {
    if (!this.atEnd()) throw new ImapSyntaxError('unexpected-arguments', 'unexpected arguments');
  }

  /** Consumes exactly one SP; throws otherwise (or 'missing-arguments' at the end). */
  sp(): void {
    if (this.atEnd()) throw new ImapSyntaxError('missing-arguments', 'missing arguments');
    if (this.atLiteral() || this.line[this.pos] !== SP) throw new ImapSyntaxError('syntax', 'expected a space');
    this.pos++;
  }

  /** Consumes an SP if one follows; false at the end. */
  trySp(): boolean {
    if (this.atEnd()) return false;
    this.sp();
    return true;
  }

  /** True (and consumes it) if the next byte is `b`. */
  tryByte(b: number): boolean {
    if (this.atLiteral() || this.line[this.pos] !== b) return false;
    this.pos++;
    return true;
  }

  /** The next byte without consuming it (undefined at a literal or the end). */
  peek(): number | undefined {
    return this.atLiteral() ? undefined : this.line[this.pos];
  }

  /** 1*ATOM-CHAR (or 1*ASTRING-CHAR with `astring`). */
  atom(astring = false): string {
    const line = this.line;
    const start = this.pos;
    const ok = astring ? isAstringChar : isAtomChar;
    while (this.pos < line.length && ok(line[this.pos] as number)) this.pos++;
    if (this.pos === start) {
      if (line[this.pos] === 0) throw new ImapSyntaxError('nul-byte', 'NUL byte in command');
      throw new ImapSyntaxError(this.atEnd() ? 'missing-arguments' : 'syntax', 'expected an atom');
    }
    return Buffer.from(line.subarray(start, this.pos)).toString('latin1');
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astring(): Uint8Array {
    const b = this.peek();
    if (this.atLiteral() || b === DQUOTE) return this.string();
    return Buffer.from(this.atom(true), 'latin1');
  }

  /** string = quoted / literal. */
  string(): Uint8Array {
    if (this.atLiteral()) return this.literal();
    if (this.peek() === DQUOTE) return this.quoted();
    throw new ImapSyntaxError(this.atEnd() ? 'missing-arguments' : 'syntax', 'expected a string');
  }

  /** nstring = string / NIL; null for NIL. */
  nstring(): Uint8Array | null {
    if (!this.atLiteral() && this.peek() !== DQUOTE) {
      const word = this.atom();
      if (word.toUpperCase() !== 'NIL') throw new ImapSyntaxError('syntax', 'expected a string or NIL');
      return null;
    }
    return this.string();
  }

  private literal(): Uint8Array {
    const lit = this.frame.literals[this.seg];
    if (!lit) throw new ImapSyntaxError('syntax', 'expected a literal');
    if (lit.bytes.includes(0)) throw new ImapSyntaxError('nul-byte', 'NUL byte in literal');
    this.seg++;
    this.pos = 0;
    return lit.bytes;
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = TEXT-CHAR except `"` `\`, or `\"` `\\`. */
  private quoted(): Uint8Array {
    const line = this.line;
    const out: number[] = [];
    let i = this.pos + 1;
    for (;;) {
      const b = line[i];
      if (b === undefined) throw new ImapSyntaxError('syntax', 'unterminated quoted string');
      if (b === DQUOTE) break;
      if (b === 0) throw new ImapSyntaxError('nul-byte', 'NUL byte in quoted string');
      if (b === 0x0d || b === 0x0a) throw new ImapSyntaxError('syntax', 'CR or LF in quoted string');
      if (b === BACKSLASH) {
        const e = line[i + 1];
        if (e !== DQUOTE && e !== BACKSLASH) throw new ImapSyntaxError('syntax', 'bad escape in quoted string');
        out.push(e);
        i += 2;
        continue;
      }
      // 8-bit bytes are UTF-8 in IMAP4rev2 quoted strings (RFC 9051 §4.3); validated where text is needed.
      out.push(b);
      i++;
    }
    this.pos = i + 1;
    return Uint8Array.from(out);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly; throws 'invalid-utf8'. */
export function utf8Strict(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ImapSyntaxError('invalid-utf8', 'invalid UTF-8');
  }
}
