/**
 * A client session as the listener sees it, and the ports and settings every session gets.
 */
import type { SecureContext } from 'node:tls';
import type { EffectiveSettings } from '@postern/config';
import type { RouteResolverPort } from '@postern/route-client';
import type { Logger } from '@postern/service-kit';
import type { MailProxyMetrics } from '../mail-proxy.metrics';
import type { ThrottlePort } from '@postern/throttle-client';
import type { UpstreamConnector } from '../upstream/upstream';
import type { AcceptedConnection } from './client-link';
import type { ClientNoticeLimiter } from './session-log';
import type { RefusalWindows } from '../login/login-audit';
import type { LiveSessions } from '../server/live-sessions';
import type { BearerTokenPort } from '../login/bearer/bearer-token-check';
import type { GssapiPort } from '../login/gssapi-login';

export interface SessionDeps {
  readonly settings: () => EffectiveSettings;
  readonly routes: RouteResolverPort;
  readonly throttle: ThrottlePort;
  readonly upstreams: UpstreamConnector;
  readonly metrics: MailProxyMetrics;
  readonly logger: Logger;
  /** Undefined when no certificate is configured: then STARTTLS is not offered. */
  readonly tls: SecureContext | undefined;
  /** The certificate for a TLS client's SNI name (a domain's own from the directory), when there is a directory. */
  readonly sni?: (serverName: string, done: (error: Error | null, context?: SecureContext) => void) => void;
  /** The proxy's version, named in greetings and the ID reply when the settings expose it. */
  readonly version: string;
  /** Rate limit of client-mistake log lines; one per process when absent. */
  readonly notices?: ClientNoticeLimiter;
  /** Bounds the audit lines of IP-limit refusals per client address; every refusal is written when absent. */
  readonly refusals?: RefusalWindows;
  /** The spliced sessions by account (`postern sessions`, ending a closed account's sessions); none when absent. */
  readonly live?: LiveSessions;
  /** The proxy's own check of OAuth 2.0 bearer tokens (posternOAuthJwks); none: the mailbox server alone decides. */
  readonly bearerTokens?: BearerTokenPort;
  /** Kerberos (SASL GSSAPI) logins: service credentials and the master login; none when absent. */
  readonly gssapi?: GssapiPort;
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

export type SessionFactory = (connection: AcceptedConnection, deps: SessionDeps) => Session;
