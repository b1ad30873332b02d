/** Connecting to a mailbox server: plain or TLS, Nagle off, names resolved once a minute, bounded by the login's deadline. */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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

export class TcpUpstreamConnector implements UpstreamConnector {
  constructor(
    private readonly tls: UpstreamTlsOptions,
    private readonly resolver = new HostResolver(),
  ) {}

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
        resolve(socket);
      };
      if (target.tls) {
        // The certificate is checked against the name, whatever address it resolved to.
        const servername = isIP(target.host) === 0 ? target.host : undefined;
        // Nagle off from the first byte: the handshake's small writes must not wait for delayed ACKs.
        const raw = netConnect({ host: address, port: target.port, noDelay: true });
        raw.once('error', (error) => fail(error));
        socket = tlsConnect({ socket: raw, servername, host: target.host, rejectUnauthorized: this.tls.verify, ca: this.tls.ca }, ready);
      } else {
        socket = netConnect({ host: address, port: target.port, noDelay: true }, ready);
      }
      socket.once('error', fail);
    });
  }
}
