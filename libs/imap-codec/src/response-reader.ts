/**
 * Reads the upstream server's responses during the proxy's login (greeting, ID, LOGIN/AUTHENTICATE
 * replies). Pure: bytes in, events out. Keeps each response's exact bytes in `raw` so the proxy can
 * relay the upstream's tagged line (with its `[CAPABILITY …]`) verbatim.
 *
 * RFC 9051 §2.2.2 (responses), §7.1 (status responses, resp-text-code), §7.5 (continuation request),
 * §4.3 (literals in responses); RFC 2971 §3.2 (`* ID`).
 */
import { IMAP_RESPONSE_DEFAULTS, type ImapResponseLimits } from './limits';
import { findLiteralMarker, isValidTag } from './syntax';

const LF = 0x0a;
const CR = 0x0d;

/** Untagged status keywords (RFC 9051 §7.1). */
export type ImapUntaggedStatus = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

/** A response code: `[ALERT]` is `{ name: 'ALERT', text: '' }`, `[CAPABILITY IMAP4rev1 …]` has the list in `text`. */
export interface ImapResponseCode {
  /** Upper-cased atom. */
  readonly name: string;
  /** What follows the name inside the brackets, without the separating space. */
  readonly text: string;
}

/** What the reader reports. `text` is UTF-8 (lossy) text after the status and code; `raw` the exact bytes. */
export type ImapResponseEvent =
  | {
      readonly type: 'untagged';
      /** Present for status responses (`* OK`, `* BYE`…). */
      readonly status?: ImapUntaggedStatus;
      /** Upper-cased first word of a data response (`CAPABILITY`, `ID`, or a number for `* 3 EXISTS`). */
      readonly keyword?: string;
      readonly code?: ImapResponseCode;
      readonly text: string;
      readonly raw: Uint8Array;
    }
  | {
      readonly type: 'tagged';
      readonly tag: string;
      readonly status: 'OK' | 'NO' | 'BAD';
      readonly code?: ImapResponseCode;
      readonly text: string;
      readonly raw: Uint8Array;
    }
  | { readonly type: 'continuation'; readonly text: string; readonly raw: Uint8Array }
  /**
   * `malformed` (not fatal): a line that is no IMAP response; `raw` holds it. `line-too-long`,
   * `literal-too-large` (fatal): the reader stops; treat the upstream as failed (temporary failure).
   */
  | { readonly type: 'error'; readonly reason: 'malformed' | 'line-too-long' | 'literal-too-large'; readonly fatal: boolean; readonly raw?: Uint8Array };

const UNTAGGED_STATUS = new Set(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);
const TAGGED_STATUS = new Set(['OK', 'NO', 'BAD']);
const utf8 = new TextDecoder('utf-8');

/** Splits an upstream byte stream into IMAP responses. */
export class ImapResponseReader {
  private readonly limits: ImapResponseLimits;
  private buf: Buffer = Buffer.alloc(0);
  private scanned = 0;
  /** Raw bytes of the response being assembled (segments with their line ends, and literals). */
  private parts: Uint8Array[] = [];
  private partBytes = 0;
  private literalRemaining = 0;
  private stopped = false;

  constructor(options: Partial<ImapResponseLimits> = {}) {
    this.limits = { ...IMAP_RESPONSE_DEFAULTS, ...options };
  }

  /** Feeds bytes; returns every response completed by them, in order. */
  push(chunk: Uint8Array): ImapResponseEvent[] {
    if (this.stopped) return [];
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const events: ImapResponseEvent[] = [];
    for (;;) {
      if (this.literalRemaining > 0) {
        const take = Math.min(this.literalRemaining, this.buf.length);
        if (take === 0) break;
        this.addPart(this.buf.subarray(0, take));
        this.literalRemaining -= take;
        this.consume(take);
        continue;
      }
      const lf = this.buf.indexOf(LF, this.scanned);
      if (lf < 0) {
        this.scanned = this.buf.length;
        if (this.buf.length > this.limits.maxLineBytes + 1) return this.stop(events, 'line-too-long');
        break;
      }
      const end = lf > 0 && this.buf[lf - 1] === CR ? lf - 1 : lf;
      if (end > this.limits.maxLineBytes) return this.stop(events, 'line-too-long');
      const content = this.buf.subarray(0, end);
      const first = this.parts.length === 0;
      this.addPart(this.buf.subarray(0, lf + 1));
      this.consume(lf + 1);
      if (this.partBytes > this.limits.maxResponseBytes) return this.stop(events, 'line-too-long');
      // Status responses and continuation requests end with free text: a trailing `{5}` there is text.
      if (!first || mayCarryLiterals(content)) {
        const marker = findLiteralMarker(content);
        if (marker.kind === 'literal') {
          if (marker.size > this.limits.maxLiteralBytes || this.partBytes + marker.size > this.limits.maxResponseBytes) {
            return this.stop(events, 'literal-too-large');
          }
          this.literalRemaining = marker.size;
          continue;
        }
      }
      const raw = Buffer.concat(this.parts);
      this.parts = [];
      this.partBytes = 0;
      events.push(parseResponse(raw));
    }
    return events;
  }

  /**
   * Returns and forgets every byte received but not yet part of a reported response (a response
   * being assembled, then unread input). The proxy calls it when it stops reading the upstream and
   * starts the splice: those bytes go to the client unchanged.
   */
  drainBuffered(): Uint8Array {
    const rest = Buffer.concat([...this.parts, this.buf]);
    this.parts = [];
    this.partBytes = 0;
    this.literalRemaining = 0;
    this.buf = Buffer.alloc(0);
    this.scanned = 0;
    return rest;
  }

  private addPart(bytes: Uint8Array): void {
    this.parts.push(Buffer.from(bytes));
    this.partBytes += bytes.length;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.scanned = 0;
  }

  private stop(events: ImapResponseEvent[], reason: 'line-too-long' | 'literal-too-large'): ImapResponseEvent[] {
    this.stopped = true;
    this.buf = Buffer.alloc(0);
    this.parts = [];
    events.push({ type: 'error', reason, fatal: true });
    return events;
  }
}

/** True for `* <word>` where word is not a status keyword (data responses such as `* ID (…)`). */
function mayCarryLiterals(line: Uint8Array): boolean {
  if (line[0] !== 0x2a || line[1] !== 0x20) return false;
  const rest = Buffer.from(line.subarray(2, 12)).toString('latin1');
  const word = (rest.split(' ', 1)[0] ?? '').toUpperCase();
  return !UNTAGGED_STATUS.has(word);
}

function stripLineEnd(raw: Uint8Array): Uint8Array {
  let end = raw.length;
  if (raw[end - 1] === LF) end--;
  if (raw[end - 1] === CR) end--;
  return raw.subarray(0, end);
}

/** Splits `[CODE text] rest` off resp-text. */
function splitCode(respText: string): { code?: ImapResponseCode; text: string } {
  if (!respText.startsWith('[')) return { text: respText };
  const close = respText.indexOf(']');
  if (close < 0) return { text: respText };
  const inside = respText.slice(1, close);
  const sp = inside.indexOf(' ');
  const code = sp < 0 ? { name: inside.toUpperCase(), text: '' } : { name: inside.slice(0, sp).toUpperCase(), text: inside.slice(sp + 1) };
  const after = respText.slice(close + 1);
  return { code, text: after.startsWith(' ') ? after.slice(1) : after };
}

function parseResponse(raw: Uint8Array): ImapResponseEvent {
  const line = utf8.decode(stripLineEnd(raw));
  if (line === '+' || line.startsWith('+ ')) return { type: 'continuation', text: line.slice(2), raw };
  const sp = line.indexOf(' ');
  if (sp <= 0) return { type: 'error', reason: 'malformed', fatal: false, raw };
  const head = line.slice(0, sp);
  const rest = line.slice(sp + 1);
  const sp2 = rest.indexOf(' ');
  const word = (sp2 < 0 ? rest : rest.slice(0, sp2)).toUpperCase();
  const afterWord = sp2 < 0 ? '' : rest.slice(sp2 + 1);
  if (head === '*') {
    if (UNTAGGED_STATUS.has(word)) {
      return { type: 'untagged', status: word as ImapUntaggedStatus, ...splitCode(afterWord), raw };
    }
    if (word.length === 0) return { type: 'error', reason: 'malformed', fatal: false, raw };
    return { type: 'untagged', keyword: word, text: afterWord, raw };
  }
  if (isValidTag(head) && TAGGED_STATUS.has(word)) {
    return { type: 'tagged', tag: head, status: word as 'OK' | 'NO' | 'BAD', ...splitCode(afterWord), raw };
  }
  return { type: 'error', reason: 'malformed', fatal: false, raw };
}

/** The capability atoms of a `* CAPABILITY` response's text or a `[CAPABILITY …]` code's text, upper-cased. */
export function parseCapabilities(text: string): string[] {
  return text
    .split(' ')
    .filter((c) => c.length > 0)
    .map((c) => c.toUpperCase());
}
