/**
 * What every client session (IMAP or POP3) shares: its id, its sockets, the ports it talks to, and
 * how the listener stops it.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { EffectiveSettings } from '@postern/config';
import type { RouteResolverPort } from '@postern/route-client';
import type { Logger } from '@postern/service-kit';
import type { MailProtocol, MailProxyMetrics } from './mail-proxy.metrics';
import type { ThrottlePort } from '@postern/throttle-client';
import type { UpstreamConnector } from './upstream';

export interface SessionDeps {
  readonly settings: () => EffectiveSettings;
  readonly routes: RouteResolverPort;
  readonly throttle: ThrottlePort;
  readonly upstreams: UpstreamConnector;
  readonly metrics: MailProxyMetrics;
  readonly logger: Logger;
  /** Undefined when no certificate is configured: then STARTTLS is not offered. */
  readonly tls: SecureContext | undefined;
  /** The proxy's version, named in greetings and the ID reply when the settings expose it. */
  readonly version: string;
}

export interface ClientConnection {
  readonly socket: Socket;
  readonly protocol: MailProtocol;
  /** True on IMAPS/POP3S (TLS from the first byte). */
  readonly implicitTls: boolean;
  /** Short random id on every log line of this session. */
  readonly id: string;
}

/** A running session as the listener sees it. */
export interface Session {
  /** Resolves when the session is over (client gone, upstream gone, or closed). */
  readonly done: Promise<void>;
  /** True once the session splices to an upstream. */
  readonly proxied: boolean;
  /**
   * Graceful shutdown: a pre-auth session says goodbye (`* BYE` / `-ERR`) and closes; a proxied
   * session is left to finish (the listener closes it after the drain bound).
   */
  shutdown(): void;
  /** Closes now. */
  destroy(): void;
}

export type SessionFactory = (connection: ClientConnection, deps: SessionDeps) => Session;
