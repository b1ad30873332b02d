/**
 * After login the proxy gets out of the way: bytes flow both ways with backpressure (pipe), on
 * sockets with Nagle off, until either side closes or nothing moves for `idleMs`.
 */
import type { Socket } from 'node:net';

export type SpliceEnd = 'client-closed' | 'upstream-closed' | 'idle-timeout' | 'error' | 'shutdown';

export interface SpliceResult {
  readonly end: SpliceEnd;
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
}

export interface Splice {
  readonly done: Promise<SpliceResult>;
  /** Ends the splice now (graceful shutdown past its bound). */
  close(): void;
}

/**
 * Joins `client` and `upstream`. One timer per session: on expiry it checks the last activity
 * and re-arms for the remainder, so busy sessions cost no timer churn. Activity in either
 * direction counts (IMAP IDLE: the server's keep-alives keep an idle client's session open).
 */
export function splice(client: Socket, upstream: Socket, idleMs: number): Splice {
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const startClient = client.bytesRead;
  const startUpstream = upstream.bytesRead;
  let last = Date.now();
  const touch = () => {
    last = Date.now();
  };
  client.on('data', touch);
  upstream.on('data', touch);
  client.pipe(upstream);
  upstream.pipe(client);

  let finish!: (end: SpliceEnd) => void;
  const done = new Promise<SpliceResult>((resolve) => {
    let ended = false;
    finish = (end) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      client.unpipe(upstream);
      upstream.unpipe(client);
      if (end === 'client-closed' || end === 'upstream-closed') {
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
    if (quiet >= idleMs) finish('idle-timeout');
    else timer = setTimeout(check, idleMs - quiet);
  };
  let timer = setTimeout(check, idleMs);
  // Sockets are not half-open: a side that sends FIN is closed, which ends the session.
  client.once('close', () => finish('client-closed'));
  upstream.once('close', () => finish('upstream-closed'));
  client.once('error', () => finish('error'));
  upstream.once('error', () => finish('error'));
  return { done, close: () => finish('shutdown') };
}
