/**
 * One login, as a plain async function over ports (route resolver, throttle, upstream connector):
 *
 *   route (cache, else lookup service) → user throttle pre-check, while the upstream connects and
 *   greets → the protocol's upstream login (client address, credentials) → on OK: count it;
 *   on refusal: forget the cached route, count the failure, wait the auth-wait interval. A bearer
 *   token the proxy can check itself (posternOAuthJwks) is checked after the route, before any
 *   upstream connection.
 *
 * A qualified login is pre-checked with its route read, in the same memcached write, instead of
 * after it: most logins name their account, and then the check needs no exchange of its own.
 *
 * It returns what happened as a {@link LoginResult}; the session turns that into replies. One
 * deadline covers the whole login; a dependency that fails is a temporary failure, never a pass.
 * A client that leaves aborts the signal: the upstream is hung up at once and nothing is counted
 * as a success.
 *
 * A little over the project's usual length on purpose: the login's contract (its request, its
 * ports, its result) sits beside the one function that fulfils it, so a change to either is read
 * with the other.
 */
import type { Socket } from 'node:net';
import { ErrorCode, isLogin, PosternError, type Route, type RouteProtocol, type SecretValue, type ThrottleCheckResult } from '@postern/contracts';
import type { EffectiveSettings } from '@postern/config';
import type { RouteResolverPort } from '@postern/route-client';
import { encodeSaslPlain, type BearerMechanism } from '@postern/sasl';
import { Deadline } from '@postern/service-kit';
import type { ThrottlePort } from '@postern/throttle-client';
import { canonicalUser } from '@postern/throttle-policy';
import type { BearerTokenPort } from './bearer/bearer-token-check';
import type { LoginOutcome, MailProtocol, MailProxyMetrics } from '../mail-proxy.metrics';
import type { SessionLog } from '../session/session-log';
import type { UpstreamConnector } from '../upstream/upstream';
import { UpstreamConnection, type ResponseReader } from '../upstream/upstream-connection';

/** A login request from the client, after the protocol's own checks. */
export interface LoginRequest {
  /** The name the client authenticates as. */
  readonly user: string;
  /** The password, or the token of a bearer login. */
  readonly password: SecretValue;
  /** SASL authorization identity when it differs from `user` (delegated login): routing uses it. */
  readonly authzid: string | undefined;
  /** Set for an OAuth 2.0 login (OAUTHBEARER, XOAUTH2): `password` is the token, sent upstream with the same mechanism. */
  readonly bearer?: BearerMechanism;
  /**
   * A Kerberos principal the proxy verified (SASL GSSAPI). The route is then its account's (found
   * by principal, never from the cache), or, when `authzid` names another account the principal's
   * may act for (an administrator's), that account's; `user` and `password` are the master login
   * that logs in upstream for the routed account.
   */
  readonly principal?: string;
}

/** The ports a login talks to. */
export interface LoginPorts {
  readonly routes: RouteResolverPort;
  readonly throttle: ThrottlePort;
  readonly upstreams: UpstreamConnector;
  readonly metrics: MailProxyMetrics;
  /** The proxy's own check of bearer tokens (posternOAuthJwks); none: the mailbox server alone decides. */
  readonly bearerTokens?: BearerTokenPort;
}

/**
 * A login's cancellation: the client left. An AbortController would do, but it is an EventTarget
 * made and listened to once per login, about 5 µs of a login's CPU; this is a flag and one hook.
 */
export class LoginAbort {
  private hook: (() => void) | undefined;
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const hook = this.hook;
    this.hook = undefined;
    hook?.();
  }

  /** Runs `hook` on abort (at once if already aborted); returns what forgets it. One hook at a time: a login hangs up one upstream. */
  onAbort(hook: () => void): () => void {
    if (this.aborted) {
      hook();
      return () => undefined;
    }
    this.hook = hook;
    return () => {
      if (this.hook === hook) this.hook = undefined;
    };
  }
}

/** Who logs in, from where, and how to reach the client meanwhile. */
export interface LoginContext {
  readonly protocol: MailProtocol;
  readonly settings: EffectiveSettings;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly proxyIp: string;
  /** The session's id: the throttle's request id and on every log line. */
  readonly requestId: string;
  /** Aborted when the client leaves. */
  readonly signal: LoginAbort;
  readonly log: SessionLog;
  /** Writes to the client during the login (the upstream's alerts). */
  readonly relay: (bytes: Uint8Array) => void;
}

/** How the upstream answered the credentials. `reply` is its final line, ready for the client. */
export type UpstreamAnswer =
  | { readonly kind: 'ok'; readonly reply: Uint8Array }
  /** `refusal`: a NO/-ERR (wrong password and kin), not a protocol error. `challenge`: a bearer login's error challenge (base64) before it. */
  | { readonly kind: 'refused'; readonly reply: Uint8Array; readonly refusal: boolean; readonly challenge?: string }
  /** The server said goodbye during the login (IMAP `* BYE`): relayed as it is. */
  | { readonly kind: 'bye'; readonly reply: Uint8Array };

/** What a protocol does on the upstream side of a login. `G` is what it keeps of the greeting. */
export interface UpstreamLogin<E extends { raw?: Uint8Array }, G> {
  createReader(): ResponseReader<E>;
  /** Reads the greeting; throws {@link PosternError} UNAVAILABLE unless it is a positive one. */
  greeting(upstream: UpstreamConnection<E>, deadline: Deadline): Promise<G>;
  /** Sends the client's address and the credentials; returns the final answer. */
  credentials(upstream: UpstreamConnection<E>, login: UpstreamLoginInput<G>, deadline: Deadline): Promise<UpstreamAnswer>;
}

/** What the credentials step needs to know. */
export interface UpstreamLoginInput<G> {
  readonly route: Route;
  readonly request: LoginRequest;
  readonly greeting: G;
  readonly context: LoginContext;
}

export type LoginResult =
  | { readonly kind: 'ok'; readonly reply: Uint8Array; readonly upstream: Socket; readonly readAhead: Buffer; readonly route: Route }
  /**
   * The login failed for good (after the auth-wait); `reply` is the upstream's own refusal to relay, if any, and `challenge` its
   * bearer error challenge; `reason` says why the proxy refused it itself (a bearer token it checked).
   */
  | {
      readonly kind: 'refused';
      readonly outcome: 'rejected' | 'not_found' | 'not_allowed';
      readonly reply?: Uint8Array;
      readonly challenge?: string;
      readonly reason?: string;
      readonly route?: Route;
    }
  | { readonly kind: 'throttled'; readonly message: string; readonly reason: string; readonly route?: Route }
  | { readonly kind: 'bye'; readonly reply: Uint8Array; readonly route?: Route }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'aborted' };

/** The metric label of a result. */
export function outcomeOf(result: LoginResult): LoginOutcome {
  switch (result.kind) {
    case 'refused':
      return result.outcome;
    case 'bye':
      return 'upstream_error';
    default:
      return result.kind;
  }
}

export async function runLogin<E extends { raw?: Uint8Array }, G>(
  ports: LoginPorts,
  context: LoginContext,
  request: LoginRequest,
  protocolLogin: UpstreamLogin<E, G>,
): Promise<LoginResult> {
  const { settings: s, protocol, clientIp, signal, log } = context;
  const deadline = new Deadline(s.zimbraReverseProxyConnectTimeout);
  const routed = request.principal ?? request.authzid ?? request.user;
  const temporary = (why: string, error?: unknown): LoginResult => {
    // The client left, and its leaving hung up the upstream: not a failure of anything.
    if (signal.aborted) return { kind: 'aborted' };
    log.warn({ err: error, why }, 'login: temporary failure');
    return { kind: 'unavailable' };
  };
  const reportFailure = (user: string) => {
    // Never waited for: the failure limits are the throttle's business, not this client's reply.
    const counting = new Deadline(Math.max(1, deadline.remaining()));
    ports.throttle
      .check({ kind: 'login-failed', protocol, clientIp, user, requestId: context.requestId }, counting)
      .catch((error: unknown) => log.debug({ err: error }, 'reporting a failed login failed'));
  };

  // The user throttle's pre-check (check only: the count goes up after a successful login, so a
  // stranger cannot lock a user out by failing on purpose). A refusal closes the connection unused.
  const preCheck = (user: string) =>
    ports.throttle
      .check({ kind: 'pre-login', protocol, clientIp, user, requestId: context.requestId }, deadline)
      .catch((error: unknown): ThrottleCheckResult => {
        log.warn({ err: error }, 'user throttle check failed');
        return { verdict: 'allow' };
      });
  // Sent with the route read when the login is qualified: it is the account name, or an alias
  // (then checked again below, for the account). A login the contract refuses is refused by the
  // route step, unchecked.
  const early =
    request.principal === undefined && routed.includes('@') && isLogin(routed) ? { user: canonicalUser(routed), verdict: preCheck(routed) } : undefined;

  // 1. Route. It comes first so the user throttle counts the account, not one of its spellings
  //    (an alias, an unqualified name); for most logins it is a cache read.
  const routeProtocol: RouteProtocol = s.zimbraReverseProxySSLToUpstreamEnabled ? `${protocol}ssl` : protocol;
  const byPrincipal =
    request.principal !== undefined ? { by: 'principal' as const, ...(request.authzid !== undefined ? { authzid: request.authzid } : {}) } : {};
  const query = { login: routed, ...byPrincipal, protocol: routeProtocol, clientIp, proxyIp: context.proxyIp, requestId: context.requestId };
  const lookupStarted = performance.now();
  let found;
  try {
    found = await ports.routes.resolve(query, deadline);
  } catch (error) {
    // A login the contract refuses (control characters, white space) names no user anywhere.
    if (error instanceof PosternError && error.code === ErrorCode.BadRequest) {
      await authWait(s.zimbraReverseProxyAuthWaitInterval);
      return { kind: 'refused', outcome: 'not_found' };
    }
    return temporary('route lookup', error);
  }
  ports.metrics.lookup.observe({ source: found.outcome === 'ROUTE' ? found.source : 'directory' }, (performance.now() - lookupStarted) / 1000);
  if (found.outcome !== 'ROUTE') {
    // Counted as a failure of this address: guessing names is guessing too. The wait is this
    // frontend's own setting, so every failed login on a node takes the same time.
    reportFailure(routed.toLowerCase());
    await authWait(s.zimbraReverseProxyAuthWaitInterval);
    return { kind: 'refused', outcome: found.outcome === 'NOT_FOUND' ? 'not_found' : 'not_allowed' };
  }
  const route = found.route;
  if (signal.aborted) return { kind: 'aborted' };

  // 1b. A bearer token the proxy checks itself (posternOAuthJwks): a forged, expired or misdirected
  //     one is refused here, counted as a failed login, and never reaches a mailbox server.
  if (request.bearer !== undefined && ports.bearerTokens?.enabled()) {
    let verdict;
    try {
      verdict = await ports.bearerTokens.check(request.user, request.password);
    } catch (error) {
      return temporary('bearer token check', error);
    }
    if (!verdict.ok) {
      reportFailure(route.accountName);
      await authWait(s.zimbraReverseProxyAuthWaitInterval);
      return { kind: 'refused', outcome: 'rejected', reason: verdict.reason, route };
    }
    if (signal.aborted) return { kind: 'aborted' };
  }

  // 2 and 3, at once: the user throttle's pre-check of the account, and the upstream connection
  //    with its greeting.
  const preLogin = early?.user === canonicalUser(route.accountName) ? early.verdict : preCheck(route.accountName);
  const connectStarted = performance.now();
  const connecting = openUpstream(ports.upstreams, route, routeProtocol.endsWith('ssl'), protocolLogin, deadline, signal);
  // Handled below, after the throttle's answer; until then a failure must not count as unhandled.
  connecting.catch(() => undefined);
  const verdict = await preLogin;
  if (verdict.verdict === 'deny' || signal.aborted) {
    connecting.then(
      ({ upstream }) => upstream.close(),
      () => undefined,
    );
    // The route is known by now: the audit line names the account that was throttled.
    return verdict.verdict === 'deny' ? { kind: 'throttled', message: verdict.message, reason: verdict.reason, route } : { kind: 'aborted' };
  }
  let upstream: UpstreamConnection<E>;
  let greeting: G;
  try {
    ({ upstream, greeting } = await connecting);
  } catch (error) {
    return temporary('upstream connect', error);
  }
  ports.metrics.upstreamConnect.observe({ protocol }, (performance.now() - connectStarted) / 1000);

  // 4. The protocol's login: client address, credentials, the final answer.
  const loginStarted = performance.now();
  let answer: UpstreamAnswer;
  try {
    answer = await protocolLogin.credentials(upstream, { route, request, greeting, context }, deadline);
  } catch (error) {
    upstream.close();
    return temporary('upstream login', error);
  }
  ports.metrics.upstreamLogin.observe({ protocol }, (performance.now() - loginStarted) / 1000);
  // The client left during the login: nothing to relay, nothing to count as a success.
  if (signal.aborted) return { kind: 'aborted' };

  if (answer.kind === 'bye') {
    upstream.close();
    log.debug({ account: route.accountName, upstream: `${route.host}:${route.port}` }, 'mailbox server said BYE during the login');
    return { kind: 'bye', reply: answer.reply, route };
  }
  if (answer.kind === 'refused') {
    // Refused: forget the cached route (the mailbox may have moved), count, wait, relay.
    upstream.close();
    reportFailure(route.accountName);
    ports.routes.forget(route.accountName, route.accountId, query).catch(() => undefined);
    await authWait(s.zimbraReverseProxyAuthWaitInterval);
    return s.zimbraReverseProxyPassErrors && answer.refusal
      ? { kind: 'refused', outcome: 'rejected', reply: answer.reply, ...(answer.challenge !== undefined ? { challenge: answer.challenge } : {}), route }
      : { kind: 'refused', outcome: 'rejected', route };
  }

  // 5. Count the success; over the user limit the login is refused after all (as Zimbra does).
  try {
    const counted = await ports.throttle.check(
      { kind: 'login-succeeded', protocol, clientIp, user: route.accountName, requestId: context.requestId },
      deadline,
    );
    if (counted.verdict === 'deny') {
      upstream.close();
      return { kind: 'throttled', message: counted.message, reason: counted.reason, route };
    }
  } catch (error) {
    log.warn({ err: error }, 'counting the login failed');
  }
  if (signal.aborted) {
    upstream.close();
    return { kind: 'aborted' };
  }
  log.debug({ account: route.accountName, upstream: `${route.host}:${route.port}`, source: found.source }, 'logged in');
  const { socket, readAhead } = upstream.release();
  return { kind: 'ok', reply: answer.reply, upstream: socket, readAhead, route };
}

/** Connects to the mailbox server and reads its greeting; the connection is closed on failure or when the client leaves. */
async function openUpstream<E extends { raw?: Uint8Array }, G>(
  connector: UpstreamConnector,
  route: Route,
  tls: boolean,
  protocolLogin: UpstreamLogin<E, G>,
  deadline: Deadline,
  signal: LoginAbort,
): Promise<{ upstream: UpstreamConnection<E>; greeting: G }> {
  const socket = await connector.connect({ host: route.host, port: route.port, tls }, deadline);
  const upstream = new UpstreamConnection(socket, protocolLogin.createReader());
  // A client that leaves while the upstream is mid-login hangs it up at once, not at the deadline.
  const hangUp = () => upstream.close();
  upstream.onRelease(signal.onAbort(hangUp));
  try {
    return { upstream, greeting: await protocolLogin.greeting(upstream, deadline) };
  } catch (error) {
    upstream.close();
    throw error;
  }
}

/** The auth-wait delay: one timer, no thread held. */
export function authWait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The SASL PLAIN response a login sends upstream (RFC 4616), the same for IMAP and POP3: the
 * account's upstream name with the client's password, or, for a delegated login (authzid set),
 * the client's own identity authenticating for the account the route found; for a Kerberos login,
 * the master user authenticating for it.
 */
export function upstreamSaslPlain({ route, request }: Pick<UpstreamLoginInput<unknown>, 'route' | 'request'>): string {
  return request.authzid !== undefined || request.principal !== undefined
    ? encodeSaslPlain({ authzid: route.upstreamUser, authcid: request.user, password: request.password })
    : encodeSaslPlain({ authcid: route.upstreamUser, password: request.password });
}

/** A greeting or reply that is not what the protocol expects: a temporary failure for the client. */
export function unavailable(why: string): PosternError {
  return new PosternError(ErrorCode.Unavailable, why);
}
