/**
 * After login the proxy gets out of the way: bytes flow both ways with backpressure, on
 * sockets with Nagle off, until both sides are done or nothing moves for `idleMs`.
 *
 * Half-close is carried through, as the mailbox server itself would see it: a client's FIN goes on
 * to the server, and the server's remaining replies still reach the client until the server
 * closes (the client's socket is half-open, see listeners.ts). A half-closed connection whose other
 * side goes quiet is closed after `halfClosedIdleMs`.
 */
import type { Socket } from 'node:net';

export type SpliceEnd = 'client-closed' | 'upstream-closed' | 'idle-timeout' | 'error' | 'shutdown' | 'kicked';

export interface SpliceResult {
  readonly end: SpliceEnd;
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
}

export interface Splice {
  readonly done: Promise<SpliceResult>;
  /** Ends the splice now (graceful shutdown past its bound). */
  close(): void;
  /** Ends the splice for the account's sake: the upstream is dropped, the client gets `goodbye` then the FIN. */
  kick(goodbye: Uint8Array): void;
}

export interface SpliceOptions {
  /** Nothing moved either way for this long: the session is closed. */
  readonly idleMs: number;
  /** The idle limit once one side has half-closed. */
  readonly halfClosedIdleMs: number;
  /** The client half-closed before the splice began (during its login). */
  readonly clientEnded?: boolean;
}

/**
 * Joins `client` and `upstream`. One timer per session: on expiry it checks the last activity
 * and re-arms for the remainder, so busy sessions cost no timer churn. Activity in either
 * direction counts (IMAP IDLE: the server's keep-alives keep an idle client's session open).
 */
export function splice(client: Socket, upstream: Socket, options: SpliceOptions): Splice {
  return new SplicedPair(client, upstream, options);
}

/** Where a spliced socket's listeners find their session. */
const PAIR = Symbol('postern.splice');

type SplicedSocket = Socket & { [PAIR]?: SplicedPair };

/**
 * One spliced session. Thousands are held at once, so it keeps no closures of its own: the
 * sockets' listeners are the module's functions below, which find the session through the socket
 * they are called on, and the timer calls {@link checkIdle} with the session as its argument.
 */
class SplicedPair implements Splice {
  readonly done: Promise<SpliceResult>;
  /** Last activity either way (epoch ms). */
  last = Date.now();
  ended = false;
  private idleLimit: number;
  private timer: NodeJS.Timeout;
  private resolve!: (result: SpliceResult) => void;
  private readonly startClient: number;
  private readonly startUpstream: number;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    private readonly options: SpliceOptions,
  ) {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.startClient = client.bytesRead;
    this.startUpstream = upstream.bytesRead;
    this.idleLimit = options.idleMs;
    this.done = new Promise<SpliceResult>((resolve) => (this.resolve = resolve));
    this.timer = setTimeout(checkIdle, this.idleLimit, this);
    for (const socket of [client, upstream] as SplicedSocket[]) {
      socket[PAIR] = this;
      socket.on('data', onData);
      socket.on('drain', onDrain);
      socket.on('end', onEnd);
      // A socket closes once both of its directions are done; the first to close ends the session
      // (the other is then ended after its queued bytes). `on`, not `once`: finish is idempotent,
      // and a once-wrapper per event per socket is memory every held session pays.
      socket.on('close', onClose);
      socket.on('error', onError);
    }
    if (options.clientEnded) {
      // The client's FIN came during its login: pass it on once the pipelined bytes are written.
      upstream.end();
      this.halfClosed();
    }
    // A side paused during the login (or never read yet) starts flowing now.
    client.resume();
    upstream.resume();
  }

  close(): void {
    this.finish('shutdown');
  }

  kick(goodbye: Uint8Array): void {
    this.finish('kicked', goodbye);
  }

  /** The other side of `socket`. */
  peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  /**
   * A side's FIN was passed on: the idle limit shortens. Nothing once the session has ended: a FIN
   * after the end (the client's answer to a kick's goodbye) would arm a timer holding both sockets
   * and the session for halfClosedIdleMs.
   */
  halfClosed(): void {
    if (this.ended) return;
    this.idleLimit = Math.min(this.options.idleMs, this.options.halfClosedIdleMs);
    clearTimeout(this.timer);
    this.timer = setTimeout(checkIdle, Math.max(0, this.idleLimit - (Date.now() - this.last)), this);
  }

  checkIdle(): void {
    const quiet = Date.now() - this.last;
    if (quiet >= this.idleLimit) this.finish('idle-timeout');
    else this.timer = setTimeout(checkIdle, this.idleLimit - quiet, this);
  }

  finish(end: SpliceEnd, goodbye?: Uint8Array): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    const { client, upstream } = this;
    if (end === 'kicked') {
      // Nothing more from the upstream is relayed; the client gets the goodbye, then the FIN.
      upstream.destroy();
      if (goodbye) client.end(goodbye);
      else client.end();
    } else if (end === 'client-closed' || end === 'upstream-closed') {
      // The side still open may have bytes queued for it (the upstream's last reply to a slow
      // client): it is ended after they are written, not cut off.
      client.destroySoon();
      upstream.destroySoon();
    } else {
      client.destroy();
      upstream.destroy();
    }
    this.resolve({ end, bytesFromClient: client.bytesRead - this.startClient, bytesFromUpstream: upstream.bytesRead - this.startUpstream });
  }
}

function checkIdle(pair: SplicedPair): void {
  pair.checkIdle();
}

// The sockets' listeners: what `pipe()` does, with backpressure (`from` paused while its peer has
// more queued than its high-water mark, resumed on drain) and the FIN passed on, without pipe's
// dozen closures and once-wrappers per direction. `this` is the socket the event is on.

function onData(this: SplicedSocket, chunk: Buffer): void {
  const pair = this[PAIR]!;
  pair.last = Date.now();
  if (pair.ended) return;
  if (!pair.peerOf(this).write(chunk)) this.pause();
}

function onDrain(this: SplicedSocket): void {
  const pair = this[PAIR]!;
  if (!pair.ended) pair.peerOf(this).resume();
}

function onEnd(this: SplicedSocket): void {
  const pair = this[PAIR]!;
  pair.halfClosed();
  if (!pair.ended) pair.peerOf(this).end();
}

function onClose(this: SplicedSocket): void {
  const pair = this[PAIR]!;
  pair.finish(this === pair.client ? 'client-closed' : 'upstream-closed');
}

function onError(this: SplicedSocket): void {
  this[PAIR]!.finish('error');
}
