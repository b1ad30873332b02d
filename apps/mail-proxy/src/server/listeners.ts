/**
 * The IMAP, IMAPS, POP3 and POP3S listeners: ports and switches from the Zimbra settings
 * (`zimbra*ProxyBindPort`, `zimbraReverseProxyMail*Enabled`). Each accepted socket becomes a
 * session; a changed port or switch re-opens that listener alone; shutdown stops accepting, says
 * goodbye to pre-auth sessions, and gives proxied sessions a bounded time to finish.
 */
import { createServer as createTcpServer, isIPv4, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { cachedMatcher, unmapIpv4 } from '@postern/ip-address';
import { ListenerSet } from '@postern/listener-set';
import { requireProxyHeaders } from '@postern/proxy-protocol';
import { shortId } from '@postern/service-kit';
import { Limits } from './limits';
import type { MailProtocol } from '../mail-proxy.metrics';
import type { Session, SessionDeps, SessionFactory } from '../session/session';

export interface ListenerSpec {
  readonly name: 'imap' | 'imaps' | 'pop3' | 'pop3s';
  readonly protocol: MailProtocol;
  readonly implicitTls: boolean;
  readonly port: number;
}

export interface BoundListener extends ListenerSpec {
  /** The port actually bound (differs from `port` when it was 0). */
  readonly boundPort: number;
}

/** The listeners the settings enable. Implicit-TLS listeners need a certificate. */
export function listenerSpecs(deps: SessionDeps): ListenerSpec[] {
  const s = deps.settings();
  const specs: ListenerSpec[] = [];
  if (s.zimbraReverseProxyMailImapEnabled) specs.push({ name: 'imap', protocol: 'imap', implicitTls: false, port: s.zimbraImapProxyBindPort });
  if (s.zimbraReverseProxyMailImapsEnabled && deps.tls) specs.push({ name: 'imaps', protocol: 'imap', implicitTls: true, port: s.zimbraImapSSLProxyBindPort });
  if (s.zimbraReverseProxyMailPop3Enabled) specs.push({ name: 'pop3', protocol: 'pop3', implicitTls: false, port: s.zimbraPop3ProxyBindPort });
  if (s.zimbraReverseProxyMailPop3sEnabled && deps.tls) specs.push({ name: 'pop3s', protocol: 'pop3', implicitTls: true, port: s.zimbraPop3SSLProxyBindPort });
  return specs;
}

export class MailListeners {
  private readonly set: ListenerSet<ListenerSpec, Server>;
  private readonly sessions = new Set<Session>();
  private stopping = false;
  /** The load balancers that owe a PROXY header (`posternProxyProtocolTrustedNetworks`), rebuilt when the setting changes. */
  private readonly balancers = cachedMatcher(() => this.deps.settings().posternProxyProtocolTrustedNetworks);

  constructor(
    private readonly deps: SessionDeps,
    private readonly factories: Record<MailProtocol, SessionFactory>,
    private readonly bindHost: string,
  ) {
    this.set = new ListenerSet({ open: (spec, host) => this.listen(spec, host), close: ({ server }) => server.close(), logger: deps.logger });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The listeners open now. */
  get bound(): BoundListener[] {
    return this.set.listeners.map(({ spec, boundPort }) => ({ ...spec, boundPort }));
  }

  /** Opens the listeners the settings enable; a port that cannot be bound fails the start. */
  start(): Promise<void> {
    return this.set.start(listenerSpecs(this.deps), this.bindHost);
  }

  /**
   * Re-opens what the settings changed, and only that (a listener switched on or off, or moved to
   * another port): its sessions go on, the others are untouched. A new port that cannot be bound
   * is logged and the listener stays where it was.
   */
  reopenChanged(): Promise<void> {
    return this.set.reopen(() => listenerSpecs(this.deps));
  }

  private async listen(spec: ListenerSpec, host: string): Promise<{ server: Server; boundPort: number }> {
    // allowHalfOpen: a client's FIN does not end the proxy's side; its replies are still owed (see splice.ts).
    // Bound to one IPv4 address, every connection reached that address: no getsockname per connection to learn it.
    const local = isIPv4(host) && host !== '0.0.0.0' ? host : undefined;
    const server = createTcpServer({ noDelay: true, allowHalfOpen: true }, (socket) =>
      spec.implicitTls ? this.handshake(socket, spec, local) : this.accept(socket, spec, local),
    );
    requireProxyHeaders(server, {
      trusted: (peer) => this.balancers().matches(unmapIpv4(peer)),
      timeoutMs: Limits.proxyHeaderMs,
      onRefused: (why, detail, peer) => {
        this.deps.metrics.limit(spec.protocol, `proxy-header-${why}`);
        if (why !== 'closed') this.deps.logger.warn({ listener: spec.name, peer, why }, `PROXY header refused: ${detail}`);
      },
      // A plain session reads with 'data' listeners, which do not restart a paused socket; TLS reads on its own.
      resume: !spec.implicitTls,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    return { server, boundPort: typeof address === 'object' && address ? address.port : spec.port };
  }

  /**
   * Stops accepting, ends pre-auth sessions with a goodbye, and waits up to `drainMs` for proxied
   * sessions before closing them.
   */
  async stop(drainMs: number = Limits.drainMs): Promise<void> {
    this.stopping = true;
    // close() stops accepting at once; its callback would wait for every connection, so it is not awaited.
    for (const { server } of await this.set.stop()) server.close();
    for (const session of this.sessions) session.shutdown();
    const all = Promise.all([...this.sessions].map((s) => s.done));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), drainMs);
    });
    if ((await Promise.race([all, bound])) === 'timeout') {
      this.deps.logger.warn({ sessions: this.sessions.size }, 'drain bound reached; closing the remaining sessions');
      for (const session of this.sessions) session.destroy();
      await all;
    }
    clearTimeout(timer);
  }

  /**
   * Implicit TLS: the same server-side TLSSocket as STARTTLS uses, so both take the same context;
   * the session starts once the handshake is done, and a client that stalls it is dropped.
   */
  private handshake(raw: Socket, spec: ListenerSpec, localAddress: string | undefined): void {
    raw.setNoDelay(true);
    const socket = new TLSSocket(raw, { isServer: true, secureContext: this.deps.tls!, ...(this.deps.sni ? { SNICallback: this.deps.sni } : {}) });
    const timer = setTimeout(() => {
      this.deps.metrics.limit(spec.protocol, 'tls-handshake-timeout');
      socket.destroy();
    }, Limits.tlsHandshakeMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      this.deps.logger.debug({ listener: spec.name, err: error }, 'TLS handshake failed');
      socket.destroy();
    };
    // A client that leaves before the handshake (a port scan) is not a handshake timeout.
    const onClose = () => clearTimeout(timer);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('secure', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (this.stopping) socket.destroy();
      else this.accept(socket, spec, localAddress);
    });
  }

  private accept(socket: Socket, spec: ListenerSpec, localAddress: string | undefined): void {
    socket.setNoDelay(true);
    this.deps.metrics.connections.inc({ protocol: spec.protocol, tls: spec.implicitTls ? 'implicit' : 'none' });
    const factory = this.factories[spec.protocol];
    const session = factory({ socket, protocol: spec.protocol, implicitTls: spec.implicitTls, id: shortId(), localAddress }, this.deps);
    this.sessions.add(session);
    void session.done.finally(() => this.sessions.delete(session));
  }
}
