/**
 * The connection to the mailbox server while the proxy logs in: its bytes go through the codec's
 * response reader, the login reads one response at a time and never waits past the deadline, and
 * whatever was read ahead goes to the client when the splice takes over.
 */
import type { Socket } from 'node:net';
import { ErrorCode, PosternError } from '@postern/contracts';
import type { Deadline } from '@postern/service-kit';

/** A codec's response reader as the connection uses it; throws when the upstream's bytes can no longer be read. */
export interface ResponseReader<E> {
  push(chunk: Uint8Array): E[];
  /** Bytes received but not yet part of an event. */
  drainBuffered(): Uint8Array;
}

export class UpstreamConnection<E extends { raw?: Uint8Array }> {
  private readonly queue: E[] = [];
  private waiter: (() => void) | undefined;
  /** The deadline {@link timer} is armed for. */
  private timed: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private released = false;
  private releaseHooks: (() => void)[] = [];

  constructor(
    readonly socket: Socket,
    private readonly reader: ResponseReader<E>,
  ) {
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** The next event, or a `UNAVAILABLE` error when the upstream closes, fails or the deadline passes. */
  async next(deadline: Deadline, what: string): Promise<E> {
    for (;;) {
      const event = this.queue.shift();
      if (event) return event;
      if (this.failure) throw this.failure;
      const left = deadline.remaining();
      if (left === 0) throw new PosternError(ErrorCode.Unavailable, `${what}: upstream did not answer in time`);
      // One timer for the deadline, armed at the first wait and kept for the next ones (a login
      // waits for the greeting and its replies under one deadline): it wakes the waiter, which
      // then finds the deadline passed. Re-armed for another deadline, or when it fired early.
      if (this.timed !== deadline) {
        clearTimeout(this.timer);
        this.timed = deadline;
        this.timer = setTimeout(this.onDeadline, left);
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }

  /**
   * Stops reading and returns the socket with whatever was read ahead (raw bytes of queued events
   * and the reader's partial buffer), to be passed to the client before the splice.
   */
  release(): { socket: Socket; readAhead: Buffer } {
    clearTimeout(this.timer);
    this.timed = undefined;
    if (!this.released) {
      this.released = true;
      for (const hook of this.releaseHooks.splice(0)) hook();
    }
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    const parts = this.queue.splice(0).map((e) => Buffer.from(e.raw ?? new Uint8Array()));
    parts.push(Buffer.from(this.reader.drainBuffered()));
    return { socket: this.socket, readAhead: Buffer.concat(parts) };
  }

  /** Runs `hook` once, when the socket is released or closed. */
  onRelease(hook: () => void): void {
    if (this.released) hook();
    else this.releaseHooks.push(hook);
  }

  /** Hangs up; a `next()` still waiting fails at once rather than at its deadline. */
  close(): void {
    this.failure ??= new PosternError(ErrorCode.Unavailable, 'upstream connection closed by the proxy');
    this.release();
    this.socket.destroy();
    this.waiter?.();
  }

  private readonly onDeadline = () => {
    this.timed = undefined;
    this.waiter?.();
  };
  private readonly onData = (chunk: Buffer) => {
    try {
      this.queue.push(...this.reader.push(chunk));
    } catch (error) {
      this.failure = new PosternError(ErrorCode.Unavailable, `upstream sent an unreadable response: ${(error as Error).message}`, { cause: error });
    }
    this.waiter?.();
  };
  private readonly onClose = () => {
    this.failure ??= new PosternError(ErrorCode.Unavailable, 'upstream closed the connection');
    this.waiter?.();
  };
  private readonly onError = (error: Error) => {
    this.failure ??= new PosternError(ErrorCode.Unavailable, `upstream connection failed: ${error.message}`, { cause: error });
    this.waiter?.();
  };
}
