/**
 * IMAP command framing: splits the client's byte stream into commands (a line plus its literals),
 * without looking at the grammar. Pure: bytes in, events out; the session writes any reply.
 *
 * RFC 9051 §2.2 (commands are lines, CRLF), §4.3 and §7.5 (literals, continuation request), §6.2.2
 * (AUTHENTICATE continuation lines); RFC 7888 §3–4 (LITERAL+ `{n+}`, over-limit non-synchronizing literals).
 *
 * Pull model: `push()` only buffers and `next()` returns one event at a time. The session acts on
 * each event before pulling the next one, so after `STARTTLS` or `AUTHENTICATE` it can switch mode
 * (`drainBuffered()`, `expectRawLine()`) before any pipelined byte is framed as a command.
 */
import { IMAP_FRAMER_DEFAULTS, type ImapFramerLimits } from './limits';
import { extractTag, findLiteralMarker } from './syntax';

const LF = 0x0a;
const CR = 0x0d;

/** A framed command: line segments and the literals between them. */
export interface ImapFrame {
  /**
   * The CRLF-terminated line segments, CRLF removed. Every segment but the last ended with a literal
   * announcement, which is removed too: `literals[i]` follows `segments[i]`.
   */
  readonly segments: readonly Uint8Array[];
  /** The literals, in order. */
  readonly literals: readonly ImapFrameLiteral[];
}

/** One literal of a framed command. */
export interface ImapFrameLiteral {
  readonly bytes: Uint8Array;
  /** Sent as `{n+}` (RFC 7888): the client did not wait for a continuation. */
  readonly nonSync: boolean;
}

/** Why framing failed. */
export type ImapFramingErrorReason = 'line-too-long' | 'literal-too-large' | 'bad-literal';

/** What the framer reports. */
export type ImapFramerEvent =
  /** A complete command, with all its literals. `tag` is absent when the first token is not a valid tag. */
  | { readonly type: 'command'; readonly tag?: string; readonly frame: ImapFrame }
  /**
   * The line ended with an acceptable synchronizing literal `{size}`: the session must send
   * `+ Ready for literal data` (or call `rejectLiteral()` and answer `tag BAD`/`NO`).
   */
  | { readonly type: 'continue'; readonly tag?: string; readonly size: number }
  /** The line requested by `expectRawLine()` (an AUTHENTICATE continuation response), CRLF removed. */
  | { readonly type: 'raw-line'; readonly line: Uint8Array }
  /**
   * A framing error. `fatal: false`: the command is dropped, the framer is back in sync, the session
   * answers `tag BAD` (or `* BAD` without a tag) and continues. `fatal: true`: the framer is stopped
   * (it ignores all further input); the session sends `* BYE` and closes.
   */
  | {
      readonly type: 'error';
      readonly reason: ImapFramingErrorReason;
      readonly tag?: string;
      readonly fatal: boolean;
      /** The announced literal size, for literal errors (`Infinity` if absurd). */
      readonly size?: number;
    };

type Mode =
  | { readonly kind: 'line' }
  | { readonly kind: 'raw-line' }
  | { kind: 'literal'; remaining: number; readonly nonSync: boolean; readonly parts: Uint8Array[] }
  | { kind: 'discard'; remaining: number }
  | { readonly kind: 'stopped' };

interface PendingCommand {
  tag?: string;
  segments: Uint8Array[];
  literals: ImapFrameLiteral[];
  bytes: number;
  /** Already answered with an error; framed only to stay in sync, never emitted. */
  rejected: boolean;
}

/**
 * Frames IMAP commands from a client byte stream.
 *
 * Over-limit literals: a synchronizing `{n}` gets a non-fatal `literal-too-large` and the framer does
 * NOT expect the bytes (the client waits for a `+` that never comes). A non-synchronizing `{n+}` is
 * sent anyway, so up to `maxDiscardBytes` the framer reads and discards it and the rest of that
 * command, then resyncs (non-fatal); beyond that the error is fatal. Over-long lines are fatal: the
 * framer cannot know where the next command starts without reading unbounded input.
 */
export class ImapCommandFramer {
  private readonly limits: ImapFramerLimits;
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of `buf` already searched for LF in the current line. */
  private scanned = 0;
  private mode: Mode = { kind: 'line' };
  private cmd: PendingCommand = emptyCommand();
  private discarded = 0;

  constructor(options: Partial<ImapFramerLimits> = {}) {
    this.limits = { ...IMAP_FRAMER_DEFAULTS, ...options };
  }

  /** Buffers bytes received from the client. Call `next()` until it returns undefined. */
  push(chunk: Uint8Array): void {
    if (this.mode.kind === 'stopped' || chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
  }

  /** The next event, or undefined when more bytes are needed (or the framer is stopped). */
  next(): ImapFramerEvent | undefined {
    for (;;) {
      const mode = this.mode;
      switch (mode.kind) {
        case 'stopped':
          return undefined;
        case 'literal':
        case 'discard': {
          const take = Math.min(mode.remaining, this.buf.length);
          if (take === 0 && mode.remaining > 0) return undefined;
          if (mode.kind === 'literal') mode.parts.push(this.buf.subarray(0, take));
          mode.remaining -= take;
          this.consume(take);
          if (mode.remaining > 0) return undefined;
          if (mode.kind === 'literal' && !this.cmd.rejected) {
            this.cmd.literals.push({ bytes: Buffer.concat(mode.parts), nonSync: mode.nonSync });
          }
          this.mode = { kind: 'line' };
          continue;
        }
        case 'line':
        case 'raw-line': {
          const line = this.takeLine(mode.kind === 'raw-line' ? this.limits.maxRawLineBytes : this.limits.maxLineBytes);
          if (line === undefined) return undefined;
          if (line === 'too-long') return this.stop('line-too-long', mode.kind === 'raw-line' ? undefined : this.tagForError());
          if (mode.kind === 'raw-line') {
            this.mode = { kind: 'line' };
            return { type: 'raw-line', line };
          }
          const event = this.onCommandLine(line);
          if (event) return event;
        }
      }
    }
  }

  /**
   * Delivers the next line as a `raw-line` event, uninterpreted (an AUTHENTICATE continuation
   * response, or `*` to abort). Call it right after acting on the command that asked for it.
   */
  expectRawLine(): void {
    if (this.mode.kind === 'stopped') return;
    if (this.mode.kind !== 'line' || this.cmd.segments.length > 0) {
      throw new Error('expectRawLine() called in the middle of a command');
    }
    this.mode = { kind: 'raw-line' };
  }

  /**
   * Refuses the synchronizing literal just announced by a `continue` event: the framer drops the
   * command and reads the next bytes as a new command. The session answers `tag BAD`/`NO` instead of `+`.
   */
  rejectLiteral(): void {
    if (this.mode.kind !== 'literal' || this.mode.nonSync) {
      throw new Error('rejectLiteral() called without a pending synchronizing literal');
    }
    this.resetCommand();
  }

  /**
   * Returns and forgets every byte received but not yet framed, and any partly framed command. The
   * session calls it right after answering `STARTTLS` (before the handshake): plaintext pipelined
   * after STARTTLS must be discarded, never executed.
   */
  drainBuffered(): Uint8Array {
    const rest = Uint8Array.from(this.buf);
    this.buf = Buffer.alloc(0);
    if (this.mode.kind !== 'stopped') this.resetCommand();
    return rest;
  }

  /** True once a fatal error stopped the framer. */
  get stopped(): boolean {
    return this.mode.kind === 'stopped';
  }

  private onCommandLine(line: Uint8Array): ImapFramerEvent | undefined {
    const cmd = this.cmd;
    if (cmd.segments.length === 0) {
      const tag = extractTag(line);
      if (tag !== undefined) cmd.tag = tag;
    }
    cmd.bytes += line.length;
    if (cmd.bytes > this.limits.maxCommandBytes) return this.stop('line-too-long', cmd.tag);
    const marker = findLiteralMarker(line);
    if (marker.kind === 'none') {
      cmd.segments.push(line);
      const done = this.cmd;
      this.resetCommand();
      if (done.rejected) return undefined;
      return { type: 'command', ...tagOf(done), frame: { segments: done.segments, literals: done.literals } };
    }
    if (marker.kind === 'bad') {
      this.resetCommand();
      return cmd.rejected ? undefined : { type: 'error', reason: 'bad-literal', ...tagOf(cmd), fatal: false };
    }
    cmd.segments.push(line.subarray(0, marker.start));
    const { size, nonSync } = marker;
    const fits = size <= this.limits.maxLiteralBytes && cmd.bytes + size <= this.limits.maxCommandBytes;
    if (!nonSync) {
      // A synchronizing literal of an already rejected command: the client waits for `+`, which the
      // session will not send (it already answered); so the command ends here.
      if (cmd.rejected) {
        this.resetCommand();
        return undefined;
      }
      if (!fits) {
        this.resetCommand();
        return { type: 'error', reason: 'literal-too-large', ...tagOf(cmd), fatal: false, size };
      }
      cmd.bytes += size;
      this.mode = { kind: 'literal', remaining: size, nonSync, parts: [] };
      return { type: 'continue', ...tagOf(cmd), size };
    }
    if (fits && !cmd.rejected) {
      cmd.bytes += size;
      this.mode = { kind: 'literal', remaining: size, nonSync, parts: [] };
      return undefined;
    }
    // The client sends the bytes regardless: skip them (bounded) and the rest of the command.
    this.discarded += size;
    if (this.discarded > this.limits.maxDiscardBytes) return this.stop('literal-too-large', cmd.tag, size);
    this.mode = { kind: 'discard', remaining: size };
    if (cmd.rejected) return undefined;
    cmd.rejected = true;
    return { type: 'error', reason: 'literal-too-large', ...tagOf(cmd), fatal: false, size };
  }

  /** The next line without its line end, 'too-long', or undefined if incomplete. */
  private takeLine(max: number): Uint8Array | 'too-long' | undefined {
    let lf = this.buf.indexOf(LF, this.scanned);
    for (;;) {
      if (lf < 0) {
        this.scanned = this.buf.length;
        // +1: a CR may be waiting for its LF.
        return this.buf.length > max + 1 ? 'too-long' : undefined;
      }
      const hasCr = lf > 0 && this.buf[lf - 1] === CR;
      if (!hasCr && !this.limits.allowBareLf) {
        // A lone LF is data then; the line goes on.
        lf = this.buf.indexOf(LF, lf + 1);
        continue;
      }
      const end = hasCr ? lf - 1 : lf;
      if (end > max) return 'too-long';
      const line = Buffer.from(this.buf.subarray(0, end));
      this.consume(lf + 1);
      return line;
    }
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.scanned = 0;
  }

  private resetCommand(): void {
    this.cmd = emptyCommand();
    this.mode = { kind: 'line' };
  }

  private stop(reason: ImapFramingErrorReason, tag: string | undefined, size?: number): ImapFramerEvent {
    this.mode = { kind: 'stopped' };
    this.buf = Buffer.alloc(0);
    return { type: 'error', reason, ...(tag === undefined ? {} : { tag }), fatal: true, ...(size === undefined ? {} : { size }) };
  }

  private tagForError(): string | undefined {
    if (this.cmd.tag !== undefined || this.cmd.segments.length > 0) return this.cmd.tag;
    // The over-long first line: its tag is in the first maxLineBytes, whatever the chunking; a
    // "tag" without a space after it in that window is no tag.
    const window = this.buf.subarray(0, Math.min(this.buf.length, this.limits.maxLineBytes));
    return window.includes(0x20) ? extractTag(window) : undefined;
  }
}

function emptyCommand(): PendingCommand {
  return { segments: [], literals: [], bytes: 0, rejected: false };
}

function tagOf(cmd: PendingCommand): { tag?: string } {
  return cmd.tag === undefined ? {} : { tag: cmd.tag };
}
