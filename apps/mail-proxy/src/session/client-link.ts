/**
 * The client's connection as a session sees it: bytes in, writes out, the STARTTLS upgrade, a
 * half-close, and the hand-over of the socket to the splice. It knows nothing of IMAP or POP3.
 *
 * Half-close: listeners accept with `allowHalfOpen`, so a client that sends FIN (`nc -N`,
 * `shutdown(SHUT_WR)`) can still read every reply it is owed; `end` tells the session, and the
 * connection closes once the session has answered.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext, type TlsOptions as TlsServerOptions } from 'node:tls';
import { unmapIpv4 } from '@postern/ip-address';
import { proxiedPeer } from '@postern/proxy-protocol';
import type { MailProtocol } from '../mail-proxy.metrics';

/** A connection the listener accepted (after the TLS handshake on IMAPS/POP3S). */
export interface AcceptedConnection {
  readonly socket: Socket;
  readonly protocol: MailProtocol;
  /** True on IMAPS/POP3S (TLS from the first byte). */
  readonly implicitTls: boolean;
  /** Short random id on every log line of this session. */
  readonly id: string;
  /** The address the client reached, when the listener knows it (bound to one address); else the socket is asked. */
  readonly localAddress?: string | undefined;
}

export interface ClientLinkEvents {
  data(chunk: Buffer): void;
  /** The client half-closed: it sends nothing more, it may still read. */
  end(): void;
  /** The connection is gone (closed or reset): nothing more can be written. */
  gone(error?: Error): void;
}

/** How a STARTTLS handshake ended. */
export type TlsUpgrade = 'secure' | 'failed' | 'timeout';

/** How long a closed session's socket may linger for its last replies before it is destroyed. */
const LINGER_MS = 1000;

export class ClientLink {
  private current: Socket;
  private secure: boolean;
  private closed = false;
  private goneReported = false;
  /** True once the client sent FIN. */
  ended = false;
  /** The client's address and port and the address it reached, read once (each is a syscall). */
  readonly clientIp: string;
  readonly clientPort: number;
  readonly proxyIp: string;

  constructor(
    accepted: AcceptedConnection,
    private readonly events: ClientLinkEvents,
  ) {
    this.current = accepted.socket;
    this.secure = accepted.implicitTls;
    // Behind a load balancer, the client its PROXY header named.
    const proxied = proxiedPeer(accepted.socket);
    this.clientIp = normaliseIp(proxied?.address ?? accepted.socket.remoteAddress);
    this.clientPort = proxied?.port ?? accepted.socket.remotePort ?? 0;
    this.proxyIp = normaliseIp(accepted.localAddress ?? accepted.socket.localAddress);
    this.attach(this.current);
  }

  get tls(): boolean {
    return this.secure;
  }

  /** The TLS version in use (`TLSv1.3`), or `none`. */
  get tlsVersion(): string {
    return (this.secure && 'getProtocol' in this.current && (this.current as TLSSocket).getProtocol()) || 'none';
  }

  /** False once the session closed the link or the client is gone. */
  get writable(): boolean {
    return !this.closed && !this.current.destroyed && this.current.writable;
  }

  /**
   * Queues a reply. Replies written in the same turn of the event loop (answers to pipelined
   * commands, a tagged line after its untagged ones) leave in one write: the socket is corked until
   * the turn ends.
   */
  write(data: string | Uint8Array): void {
    if (!this.writable) return;
    const socket = this.current;
    if (socket.writableCorked === 0) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    socket.write(data);
  }

  /** Ends the connection after the queued writes (a goodbye); destroys it if the client lingers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.current;
    this.detach(socket);
    socket.on('error', () => undefined);
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Upgrades the connection to TLS in place (STARTTLS/STLS). The caller has already answered the
   * command and dropped anything the client pipelined after it.
   */
  upgradeToTls(context: SecureContext, handshakeMs: number, sni?: TlsServerOptions['SNICallback']): Promise<TlsUpgrade> {
    const plain = this.current;
    this.detach(plain);
    const secure = new TLSSocket(plain, { isServer: true, secureContext: context, ...(sni ? { SNICallback: sni } : {}) });
    secure.setNoDelay(true);
    this.current = secure;
    return new Promise<TlsUpgrade>((resolve) => {
      const settle = (result: TlsUpgrade) => {
        clearTimeout(timer);
        secure.off('secure', onSecure);
        secure.off('error', onError);
        secure.off('close', onClose);
        if (result === 'secure') {
          this.secure = true;
          this.attach(secure);
        } else {
          secure.destroy();
        }
        resolve(result);
      };
      const timer = setTimeout(() => settle('timeout'), handshakeMs);
      const onSecure = () => settle('secure');
      const onError = () => settle('failed');
      const onClose = () => settle('failed');
      secure.once('secure', onSecure);
      secure.once('error', onError);
      secure.once('close', onClose);
    });
  }

  /** Stops reporting events and hands the socket over (to the splice). */
  release(): Socket {
    this.closed = true;
    this.detach(this.current);
    return this.current;
  }

  /** Closes now, without waiting for queued writes. */
  destroy(): void {
    this.closed = true;
    this.current.destroy();
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
  }

  private readonly onData = (chunk: Buffer) => this.events.data(chunk);
  private readonly onEnd = () => {
    this.ended = true;
    this.events.end();
  };
  private readonly onClose = () => this.reportGone();
  private readonly onError = (error: Error) => {
    this.current.destroy();
    this.reportGone(error);
  };

  private reportGone(error?: Error): void {
    this.closed = true;
    if (this.goneReported) return;
    this.goneReported = true;
    this.events.gone(error);
  }
}

/** `::ffff:a.b.c.d` → `a.b.c.d` (dual-stack listeners report IPv4 clients that way). */
export function normaliseIp(address: string | undefined): string {
  return address ? unmapIpv4(address) : '0.0.0.0';
}
