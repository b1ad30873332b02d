/**
 * Reads the upstream POP3 server's replies during the proxy's login. Pure: bytes in, events out;
 * `raw` keeps the exact bytes so the final `+OK` can be relayed verbatim.
 *
 * RFC 1939 §3 (status indicators, multi-line responses, byte-stuffing), RFC 2449 §8 (response
 * codes), RFC 5034 §4 (`+ ` continuation).
 */
import { POP3_RESPONSE_DEFAULTS, type Pop3ResponseLimits } from './limits';

const LF = 0x0a;
const CR = 0x0d;

/** What the reader reports. `code` is the text inside a leading `[…]`. */
export type Pop3ResponseEvent =
  | { readonly type: 'ok'; readonly code?: string; readonly text: string; readonly raw: Uint8Array }
  | { readonly type: 'err'; readonly code?: string; readonly text: string; readonly raw: Uint8Array }
  | { readonly type: 'continuation'; readonly text: string; readonly raw: Uint8Array }
  /** A `+OK` multi-line response (after `expectMultiline()`), lines un-dot-stuffed, `.` excluded. */
  | { readonly type: 'multiline'; readonly code?: string; readonly text: string; readonly lines: readonly string[]; readonly raw: Uint8Array }
  /**
   * `malformed` (not fatal): a line that is no POP3 reply. `line-too-long`, `multiline-too-large`
   * (fatal): the reader stops; treat the upstream as failed (temporary failure).
   */
  | { readonly type: 'error'; readonly reason: 'malformed' | 'line-too-long' | 'multiline-too-large'; readonly fatal: boolean; readonly raw?: Uint8Array };

const utf8 = new TextDecoder('utf-8');

/** Splits an upstream byte stream into POP3 replies. */
export class Pop3ResponseReader {
  private readonly limits: Pop3ResponseLimits;
  private buf: Buffer = Buffer.alloc(0);
  private scanned = 0;
  private multilineExpected = false;
  /** The multi-line response being collected: its first line, then its lines. */
  private multi: { first: { code?: string; text: string }; lines: string[]; raw: Uint8Array[]; bytes: number } | undefined;
  private stopped = false;

  constructor(options: Partial<Pop3ResponseLimits> = {}) {
    this.limits = { ...POP3_RESPONSE_DEFAULTS, ...options };
  }

  /**
   * The next reply is multi-line if it is `+OK` (CAPA; RFC 2449 §5). Call it when sending the
   * command (before pulling its reply). A `-ERR` reply is single-line and cancels the expectation.
   */
  expectMultiline(): void {
    this.multilineExpected = true;
  }

  /** Buffers bytes from the upstream; call `next()` until it returns undefined. */
  push(chunk: Uint8Array): void {
    if (this.stopped || chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
  }

  /**
   * The next complete reply, or undefined when more bytes are needed (or the reader stopped).
   * One at a time, like the framers: `expectMultiline()` must take effect between two replies.
   */
  next(): Pop3ResponseEvent | undefined {
    if (this.stopped) return undefined;
    const max = this.limits.maxLineBytes - 2;
    for (;;) {
      const lf = this.buf.indexOf(LF, this.scanned);
      if (lf < 0) {
        this.scanned = this.buf.length;
        return this.buf.length > max + 1 ? this.stop('line-too-long') : undefined;
      }
      const end = lf > 0 && this.buf[lf - 1] === CR ? lf - 1 : lf;
      if (end > max) return this.stop('line-too-long');
      const raw = Buffer.from(this.buf.subarray(0, lf + 1));
      const line = utf8.decode(raw.subarray(0, end));
      this.buf = this.buf.subarray(lf + 1);
      this.scanned = 0;
      const multi = this.multi;
      if (multi) {
        multi.raw.push(raw);
        multi.bytes += raw.length;
        if (multi.bytes > this.limits.maxMultilineBytes) return this.stop('multiline-too-large');
        if (line === '.') {
          this.multi = undefined;
          return { type: 'multiline', ...multi.first, lines: multi.lines, raw: Buffer.concat(multi.raw) };
        }
        multi.lines.push(line.startsWith('.') ? line.slice(1) : line);
        continue;
      }
      const event = this.single(line, raw);
      if (event) return event;
    }
  }

  /**
   * Returns and forgets every byte received but not yet part of a reported reply (a multi-line
   * response being collected, then unread input): the proxy hands them to the client when the
   * splice starts.
   */
  drainBuffered(): Uint8Array {
    const rest = Buffer.concat([...(this.multi?.raw ?? []), this.buf]);
    this.multi = undefined;
    this.buf = Buffer.alloc(0);
    this.scanned = 0;
    return rest;
  }

  /** A single-line reply, or undefined when it opens a multi-line response. */
  private single(line: string, raw: Uint8Array): Pop3ResponseEvent | undefined {
    if (line === '+' || line.startsWith('+ ')) return { type: 'continuation', text: line.slice(2), raw };
    const m = /^(\+OK|-ERR)(?: (?:\[([^\]]*)\] ?)?(.*))?$/.exec(line);
    if (!m) return { type: 'error', reason: 'malformed', fatal: false, raw };
    const body = { ...(m[2] === undefined ? {} : { code: m[2] }), text: m[3] ?? '' };
    const wasExpected = this.multilineExpected;
    this.multilineExpected = false;
    if (m[1] === '-ERR') return { type: 'err', ...body, raw };
    if (wasExpected) {
      this.multi = { first: body, lines: [], raw: [raw], bytes: raw.length };
      return undefined;
    }
    return { type: 'ok', ...body, raw };
  }

  private stop(reason: 'line-too-long' | 'multiline-too-large'): Pop3ResponseEvent {
    this.stopped = true;
    this.buf = Buffer.alloc(0);
    this.multi = undefined;
    return { type: 'error', reason, fatal: true };
  }
}
