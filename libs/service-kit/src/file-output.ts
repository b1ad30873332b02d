/**
 * Lines to a file written off the event loop, for logs that take a line per request (the web
 * proxy's access log). A synchronous write to a file usually costs microseconds, but it can hold
 * the thread for milliseconds when the file system is busy (writeback, its journal, a slow disk),
 * and on the event loop that stall holds every request of the process: {@link FileOutput} hands
 * its writes to libuv's thread pool instead (`fs.write`), one in flight at a time, the lines that
 * come meanwhile gathered for the next one, so the file keeps their order. With `buffer`, lines
 * are gathered up to that many bytes or for at most `flushMs` before a write starts (nginx's
 * `access_log … buffer= flush=`): under load a write then carries hundreds of lines, where one per
 * turn of the event loop cost a wake-up of a pool thread and a system call every few requests.
 *
 * What it holds is bounded ({@link FILE_OUTPUT_MAX_HELD_BYTES}): when the disk cannot keep up and
 * that much is waiting, further lines are dropped (not written later, not blocking the proxy) and
 * counted, until the disk catches up; a write that fails drops its lines, counted the same way.
 * {@link FileOutput.close} resolves once every line it accepted is written, so an orderly stop or a
 * log rotation (SIGHUP) loses none; at an exit without it, what is waiting is written
 * synchronously (the one write in flight, if any, finishes in its thread or not at all); a stop
 * that cannot wait longer {@link FileOutput.abandon}s what is left, counted as dropped.
 */
import { write, writeSync } from 'node:fs';

/** Bytes waiting for the disk at most (about 30,000 access lines, a second or more at full load); beyond it, lines are dropped. */
export const FILE_OUTPUT_MAX_HELD_BYTES = 8 * 1024 * 1024;

/** Why lines were not written: the disk fell behind by more than the bound, or a write failed. */
export type DropReason = 'behind' | 'error';

export interface FileOutputOptions {
  /** Bytes held at most, waiting to be written ({@link FILE_OUTPUT_MAX_HELD_BYTES}). */
  readonly maxHeldBytes?: number;
  /** Lines dropped (`error`: with the failure's code), to be counted and told. */
  readonly onDrop?: (lines: number, reason: DropReason, code?: string) => void;
  /** Gather lines until this many bytes wait, or {@link flushMs} has passed since the first (default: none, a write per turn). */
  readonly buffer?: { readonly bytes: number; readonly flushMs: number };
}

export class FileOutput {
  /** Lines accepted and not yet handed to a write, in order, and their size. */
  private parts: string[] = [];
  private bytes = 0;
  /** The write in flight, and how many lines it carries (counted as dropped if it fails). */
  private inFlight: { readonly data: Buffer; readonly lines: number } | undefined;
  /** A write is due: after this turn (`immediate`), or when the buffer's time is up (`timer`). */
  private scheduled: 'immediate' | NodeJS.Timeout | undefined;
  /** Given up on ({@link abandon}): nothing more is written. */
  private abandoned = false;
  private closing: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly maxHeldBytes: number;
  private readonly onDrop: FileOutputOptions['onDrop'];
  private readonly buffer: FileOutputOptions['buffer'];

  constructor(
    private readonly fd: number,
    options: FileOutputOptions = {},
  ) {
    this.maxHeldBytes = options.maxHeldBytes ?? FILE_OUTPUT_MAX_HELD_BYTES;
    this.onDrop = options.onDrop;
    this.buffer = options.buffer;
    process.on('exit', this.writeHeldNow);
  }

  /** Takes a line to write; false when it is dropped (the disk is that far behind, or the output is closing). */
  write(line: string): boolean {
    if (this.closing || this.bytes + line.length > this.maxHeldBytes) {
      this.onDrop?.(1, 'behind');
      return false;
    }
    this.parts.push(line);
    this.bytes += line.length;
    // The lines of this turn go together: the write starts after it (or after the one in flight).
    if (!this.inFlight) this.schedule();
    return true;
  }

  /** Starts a write after this turn, or, buffered, when the buffer is full or its time is up. */
  private schedule(): void {
    const full = this.buffer === undefined || this.bytes >= this.buffer.bytes || this.closing !== undefined;
    if (this.scheduled === 'immediate' || (this.scheduled !== undefined && !full)) return;
    if (this.scheduled !== undefined) clearTimeout(this.scheduled);
    if (full) {
      this.scheduled = 'immediate';
      setImmediate(this.start);
    } else {
      this.scheduled = setTimeout(this.start, this.buffer.flushMs);
      // A quiet process is not kept alive for its last lines: an exit writes them (writeHeldNow).
      this.scheduled.unref();
    }
  }

  /** Bytes waiting for a write (not counting the one in flight). */
  get held(): number {
    return this.bytes;
  }

  /**
   * Takes no more lines and resolves once every line taken is written (or dropped by a failed
   * write); the caller closes the file after it.
   */
  close(): Promise<void> {
    if (!this.closing) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.closing = { promise, resolve };
      // Lines buffered wait for no timer now.
      if (this.parts.length > 0 && !this.inFlight) this.schedule();
      this.settleIfDone();
    }
    return this.closing.promise;
  }

  /**
   * Gives up on the lines still waiting (a stop that cannot wait for a disk that takes nothing):
   * they are dropped and counted, not written at exit either (a synchronous write to that disk
   * would hold the exit), and {@link close} resolves. A write in flight finishes in its thread or
   * not at all; whatever of it the disk did not take is dropped and counted, not written later.
   */
  abandon(): void {
    this.abandoned = true;
    if (this.scheduled !== undefined && this.scheduled !== 'immediate') clearTimeout(this.scheduled);
    this.scheduled = undefined;
    const lines = this.parts.length;
    this.parts = [];
    this.bytes = 0;
    process.off('exit', this.writeHeldNow);
    if (lines > 0) this.onDrop?.(lines, 'behind');
    this.closing ??= { promise: Promise.resolve(), resolve: () => undefined };
    this.closing.resolve();
  }

  private readonly start = (): void => {
    this.scheduled = undefined;
    if (this.inFlight || this.parts.length === 0) return this.settleIfDone();
    const data = Buffer.from(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''), 'utf8');
    this.inFlight = { data, lines: this.parts.length };
    this.parts = [];
    this.bytes = 0;
    this.writeFrom(0);
  };

  private writeFrom(offset: number): void {
    const { data } = this.inFlight!;
    write(this.fd, data, offset, data.length - offset, null, (error, written) => {
      if (error) {
        this.onDrop?.(this.inFlight!.lines, 'error', error.code);
      } else if (offset + written < data.length) {
        // Abandoned, the descriptor may be closed by now, its number another file's: the rest is not written.
        if (!this.abandoned) return this.writeFrom(offset + written);
        this.onDrop?.(this.inFlight!.lines, 'behind');
      }
      this.inFlight = undefined;
      if (this.abandoned) return;
      // What came while it was written goes at once, or, buffered, when its buffer is full or its time is up.
      if (this.buffer === undefined) this.start();
      else if (this.parts.length > 0) this.schedule();
      else this.settleIfDone();
    });
  }

  private settleIfDone(): void {
    if (this.closing && !this.inFlight && this.parts.length === 0) {
      process.off('exit', this.writeHeldNow);
      this.closing.resolve();
    }
  }

  /** At an exit that did not wait for {@link close}: what is waiting, written at once. */
  private readonly writeHeldNow = (): void => {
    if (this.parts.length === 0) return;
    const data = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.bytes = 0;
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset);
    } catch {
      // Exiting: nowhere left to tell.
    }
  };
}
