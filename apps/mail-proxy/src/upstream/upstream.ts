/**
 * Connecting to a mailbox server: plain or TLS, Nagle off, names resolved once a minute, bounded by
 * the login's deadline. TLS uses one client context for every connection and resumes the last
 * session of each server (its ticket), as mail clients do: a resumed handshake skips the
 * certificate chain, its checks and the server's signature.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { createSecureContext, connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import { ErrorCode, PosternError } from '@postern/contracts';
import type { Deadline } from '@postern/service-kit';
import { HostResolver } from './host-resolver';

export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

export interface UpstreamTlsOptions {
  /** Verify the mailbox server's certificate (off only for self-signed test setups). */
  readonly verify: boolean;
  /** Extra CA certificates (PEM) trusted for upstream connections. */
  readonly ca?: string;
}

/** The upstream connector port: the session asks it for a connected socket. */
export interface UpstreamConnector {
  connect(target: UpstreamTarget, deadline: Deadline): Promise<Socket>;
}

/** Mailbox servers whose last TLS session is kept; the least recently stored goes first. */
const MAX_TLS_SESSIONS = 1000;

export class TcpUpstreamConnector implements UpstreamConnector {
  /** Made once: a context per connection parsed the CA certificates on every login. */
  private readonly secureContext: SecureContext;
  /** The newest session per server (address, port, name), for the next connection to resume. */
  private readonly sessions = new Map<string, Buffer>();

  constructor(
    private readonly tls: UpstreamTlsOptions,
    private readonly resolver = new HostResolver(),
  ) {
    // Without `ca` the context trusts the system's roots, as tls.connect's own would.
    this.secureContext = createSecureContext(tls.ca !== undefined ? { ca: tls.ca } : {});
  }

  async connect(target: UpstreamTarget, deadline: Deadline): Promise<Socket> {
    let address: string;
    try {
      const resolved = this.resolver.resolve(target.host);
      address = typeof resolved === 'string' ? resolved : await deadline.run('upstream name lookup', resolved);
    } catch (error) {
      if (error instanceof PosternError) throw error;
      throw new PosternError(ErrorCode.Unavailable, `upstream ${target.host}:${target.port}: ${(error as Error).message}`, { cause: error });
    }
    return this.open(target, address, deadline);
  }

  private open(target: UpstreamTarget, address: string, deadline: Deadline): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const left = deadline.remaining();
      if (left === 0) return reject(new PosternError(ErrorCode.Timeout, 'upstream connect: deadline passed'));
      let socket: Socket | TLSSocket;
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          error instanceof PosternError
            ? error
            : new PosternError(ErrorCode.Unavailable, `upstream ${target.host}:${target.port}: ${error.message}`, { cause: error }),
        );
      };
      const timer = setTimeout(
        () => fail(new PosternError(ErrorCode.Unavailable, `upstream ${target.host}:${target.port}: no connection within ${left} ms`)),
        left,
      );
      const ready = () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        socket.setNoDelay(true);
        if (target.tls) this.keepSessions(socket as TLSSocket, `${address} ${target.port} ${target.host}`);
        resolve(socket);
      };
      if (target.tls) {
        // The certificate is checked against the name, whatever address it resolved to.
        const servername = isIP(target.host) === 0 ? target.host : undefined;
        // Nagle off from the first byte: the handshake's small writes must not wait for delayed ACKs.
        const raw = netConnect({ host: address, port: target.port, noDelay: true });
        raw.once('error', (error) => fail(error));
        const session = this.sessions.get(`${address} ${target.port} ${target.host}`);
        const secure = tlsConnect(
          { socket: raw, servername, host: target.host, rejectUnauthorized: this.tls.verify, secureContext: this.secureContext },
          ready,
        );
        // Set here rather than as tls.connect's `session`, which Node 20 decodes twice (the session
        // holds the server's certificates: a tenth of a login's CPU). tls.connect itself calls this
        // method (public, not in the typings); the handshake starts once the TCP connection is up.
        if (session) (secure as TLSSocket & { setSession(session: Buffer): void }).setSession(session);
        socket = secure;
      } else {
        socket = netConnect({ host: address, port: target.port, noDelay: true }, ready);
      }
      socket.once('error', fail);
    });
  }

  /**
   * Keeps the sessions of a connection whose handshake passed every check (certificate and name):
   * a TLS 1.2 session now, TLS 1.3 tickets as they arrive. One taken during the handshake could
   * have come from a server that then failed the name check, and resuming skips that check.
   */
  private keepSessions(socket: TLSSocket, key: string): void {
    const keep = (session: Buffer) => {
      this.sessions.delete(key);
      this.sessions.set(key, session);
      if (this.sessions.size > MAX_TLS_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    };
    if (socket.getProtocol() !== 'TLSv1.3') {
      const session = socket.getSession();
      if (session) keep(session);
    } else socket.on('session', keep);
  }
}
