/**
 * POP3 command framing: CRLF-terminated lines, bounded. Pure: bytes in, events out.
 *
 * RFC 1939 §3 (commands are CRLF lines), RFC 2449 §4 (255-octet command lines), RFC 5034 §4 (AUTH
 * continuation lines, `*` abort), RFC 2595 §4 (STLS).
 *
 * Pull model, as in the IMAP framer: `push()` buffers and `next()` returns one event at a time, so
 * the session can call `drainBuffered()` after STLS or `expectRawLine()` after AUTH before any
 * pipelined byte is read as a command.
 */
import { POP3_FRAMER_DEFAULTS, type Pop3FramerLimits } from './limits';

const LF = 0x0a;
const CR = 0x0d;

/** What the framer reports. */
export type Pop3FramerEvent =
  /** A command line, line end removed (parse it with `parsePop3Command`). */
  | { readonly type: 'line'; readonly line: Uint8Array }
  /** The line asked for with `expectRawLine()`: a SASL response or `*`. */
  | { readonly type: 'raw-line'; readonly line: Uint8Array }
  /** Always fatal: the framer stops; the session sends `-ERR line too long` and closes. */
  | { readonly type: 'error'; readonly reason: 'line-too-long'; readonly fatal: true };

/** Frames POP3 command lines from a client byte stream. */
export class Pop3CommandFramer {
  private readonly limits: Pop3FramerLimits;
  private buf: Buffer = Buffer.alloc(0);
  private scanned = 0;
  private raw = false;
  private isStopped = false;

  constructor(options: Partial<Pop3FramerLimits> = {}) {
    this.limits = { ...POP3_FRAMER_DEFAULTS, ...options };
  }

  /** Buffers bytes; call `next()` until it returns undefined. */
  push(chunk: Uint8Array): void {
    if (this.isStopped || chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
  }

  /** The next event, or undefined when more bytes are needed (or the framer is stopped). */
  next(): Pop3FramerEvent | undefined {
    if (this.isStopped) return undefined;
    // Limits count the CRLF (RFC 2449 §4), so the content may be 2 bytes shorter.
    const max = (this.raw ? this.limits.maxRawLineBytes : this.limits.maxLineBytes) - 2;
    let lf = this.buf.indexOf(LF, this.scanned);
    for (;;) {
      if (lf < 0) {
        this.scanned = this.buf.length;
        // +1: a CR may be waiting for its LF.
        return this.buf.length > max + 1 ? this.stop() : undefined;
      }
      const hasCr = lf > 0 && this.buf[lf - 1] === CR;
      if (!hasCr && !this.limits.allowBareLf) {
        lf = this.buf.indexOf(LF, lf + 1);
        continue;
      }
      const end = hasCr ? lf - 1 : lf;
      if (end > max) return this.stop();
      const line = Buffer.from(this.buf.subarray(0, end));
      this.buf = this.buf.subarray(lf + 1);
      this.scanned = 0;
      if (this.raw) {
        this.raw = false;
        return { type: 'raw-line', line };
      }
      return { type: 'line', line };
    }
  }

  /** Delivers the next line as `raw-line` (AUTH continuation response, RFC 5034 §4). */
  expectRawLine(): void {
    this.raw = true;
  }

  /**
   * Returns and forgets every byte received but not yet framed. The session calls it right after
   * answering STLS: plaintext pipelined after STLS must be discarded, never executed (RFC 2595 §4).
   */
  drainBuffered(): Uint8Array {
    const rest = Uint8Array.from(this.buf);
    this.buf = Buffer.alloc(0);
    this.scanned = 0;
    this.raw = false;
    return rest;
  }

  /** True once an over-long line stopped the framer. */
  get stopped(): boolean {
    return this.isStopped;
  }

  private stop(): Pop3FramerEvent {
    this.isStopped = true;
    this.buf = Buffer.alloc(0);
    return { type: 'error', reason: 'line-too-long', fatal: true };
  }
}
