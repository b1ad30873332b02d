import { MAX_LOGIN_LENGTH } from '@postern/contracts';
import { PROXY_HEADER_TIMEOUT_MS } from '@postern/proxy-protocol';

/**
 * Every limit of the mail frontend in one place, each with its reason (the time limit to log in
 * is a setting, `posternMailLoginTimeLimit`). A client that crosses one
 * gets a defined reply (IMAP tagged BAD/NO or BYE, POP3 -ERR) and the limit is counted in
 * `postern_mail_limit_violations_total{limit}`.
 */
export const Limits = {
  /** Longest command line before login. A real pre-auth command is under 1 KiB; LOGIN with long names fits in 8 KiB. */
  preAuthLineBytes: 8 * 1024,
  /** Largest literal before login: only LOGIN and ID arguments are literals then. */
  preAuthLiteralBytes: 8 * 1024,
  /** What a client may send while its login is relayed (pipelined commands for after it). */
  heldDuringLoginBytes: 64 * 1024,
  /** Longest login name: the contracts' cap (Zimbra's proxy: 256 bytes), so no name the lookup would refuse goes further. */
  loginBytes: MAX_LOGIN_LENGTH,
  /** Longest password (Zimbra's proxy: 1024 bytes). */
  passwordBytes: 1024,
  /** Longest OAuth 2.0 bearer token: providers' JWT access tokens are 1–4 KiB (an IMAP initial response is bounded by the line anyway). */
  bearerTokenBytes: 8 * 1024,
  /** Commands before login. Real clients send fewer than 10; a script probing the server sends more. */
  commandsBeforeLogin: 50,
  /** Unknown or malformed commands before BYE (Dovecot closes after 20; fewer is enough pre-auth). */
  badCommandsBeforeBye: 10,
  /** Failed logins on one connection before it is closed (each one already waits the auth-wait interval). */
  failedLoginsPerConnection: 3,
  /**
   * Client responses in one GSSAPI exchange: Kerberos needs three (its token, the empty answer to
   * the AP-REP, the security layer); past six the client is not speaking GSSAPI.
   */
  gssapiResponses: 6,
  /** Pre-auth idle time (Zimbra: imap_max_idle_time / pop3_max_idle_time, 60 s). */
  preAuthIdleMs: 60_000,
  /** Post-auth idle time for IMAP: 30 minutes of IDLE (RFC 2177 re-issue interval) plus 5 minutes (Zimbra: 2100 s). */
  postAuthIdleImapMs: 2_100_000,
  /** Post-auth idle time for POP3: RFC 1939 §3 requires an autologout timer of at least 10 minutes (Zimbra uses 60 s). */
  postAuthIdlePop3Ms: 600_000,
  /** After one side of a spliced session half-closed: the other side has this long of quiet to finish. */
  halfClosedIdleMs: 30_000,
  /** TLS handshake (implicit TLS or STARTTLS): a client that stalls it holds a socket for nothing. */
  tlsHandshakeMs: 10_000,
  /** A load balancer's PROXY header (posternProxyProtocolTrustedNetworks): the one bound both frontends use. */
  proxyHeaderMs: PROXY_HEADER_TIMEOUT_MS,
  /** Longest upstream response line before login (capabilities lists are the longest, a few KiB). */
  upstreamLineBytes: 64 * 1024,
  /** How long a graceful shutdown lets spliced sessions finish before closing them. */
  drainMs: 30_000,
} as const;

export type LimitName =
  | 'line-too-long'
  | 'literal-too-large'
  | 'login-too-long'
  | 'too-much-during-login'
  | 'password-too-long'
  | 'too-many-commands'
  | 'too-many-bad-commands'
  | 'too-many-failed-logins'
  | 'talked-before-greeting'
  | 'http-on-mail-port'
  | 'idle-timeout'
  | 'login-time-limit'
  | 'tls-handshake-timeout'
  | 'proxy-header-malformed'
  | 'proxy-header-timeout'
  | 'proxy-header-closed';
