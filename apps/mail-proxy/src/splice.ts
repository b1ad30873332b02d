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
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const startClient = client.bytesRead;
  const startUpstream = upstream.bytesRead;
  let last = Date.now();
  let idleLimit = options.idleMs;
  let ended = false;
  // Each side's FIN is passed on and shortens the idle limit.
  const halfClosed = () => {
    idleLimit = Math.min(options.idleMs, options.halfClosedIdleMs);
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(0, idleLimit - (Date.now() - last)));
  };
  relay(
    client,
    upstream,
    () => (last = Date.now()),
    halfClosed,
    () => ended,
  );
  relay(
    upstream,
    client,
    () => (last = Date.now()),
    halfClosed,
    () => ended,
  );

  let finish!: (end: SpliceEnd, goodbye?: Uint8Array) => void;
  const done = new Promise<SpliceResult>((resolve) => {
    finish = (end, goodbye) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
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
      resolve({ end, bytesFromClient: client.bytesRead - startClient, bytesFromUpstream: upstream.bytesRead - startUpstream });
    };
  });
  const check = () => {
    const quiet = Date.now() - last;
    if (quiet >= idleLimit) finish('idle-timeout');
    else timer = setTimeout(check, idleLimit - quiet);
  };
  let timer = setTimeout(check, idleLimit);
  // A socket closes once both of its directions are done; the first to close ends the session
  // (the other is then ended after its queued bytes). `on`, not `once`: finish is idempotent, and
  // a once-wrapper per event per socket is memory every held session pays.
  client.on('close', () => finish('client-closed'));
  upstream.on('close', () => finish('upstream-closed'));
  client.on('error', () => finish('error'));
  upstream.on('error', () => finish('error'));
  if (options.clientEnded) {
    // The client's FIN came during its login: pass it on once the pipelined bytes are written.
    upstream.end();
    halfClosed();
  }
  return { done, close: () => finish('shutdown'), kick: (goodbye) => finish('kicked', goodbye) };
}

/**
 * Copies `from` to `to` with backpressure (`from` paused while `to` has more queued than its
 * high-water mark, resumed on drain) and passes `from`'s FIN on. What `pipe()` does, with the few
 * listeners a long-held session needs instead of pipe's dozen closures and once-wrappers per
 * direction.
 */
function relay(from: Socket, to: Socket, touch: () => void, halfClosed: () => void, stopped: () => boolean): void {
  from.on('data', (chunk: Buffer) => {
    touch();
    if (stopped()) return;
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => {
    if (!stopped()) from.resume();
  });
  from.on('end', () => {
    halfClosed();
    if (!stopped()) to.end();
  });
  // A side paused during the login (or never read yet) starts flowing now.
  from.resume();
}
