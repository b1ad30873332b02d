/**
 * What IMAP and POP3 sessions share: the connection plumbing (idle timer, STARTTLS upgrade,
 * close), the pre-auth pump that answers commands in order, and the login flow around the
 * protocol-specific upstream dialogue:
 *
 *   route (cache, else lookup service) → user throttle pre-check, while the upstream connects and
 *   greets → dialogue (ID/XCLIENT, credentials) → on OK: count it, relay the reply, splice;
 *   on refusal: forget the cached route, wait the auth-wait interval, relay the refusal.
 *
 * A client that leaves during a login ends it at the next step: the upstream is hung up on and
 * nothing is counted as a success.
 *
 * One deadline covers the whole login; a dependency that fails is a temporary failure.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { ErrorCode, PosternError, type Route, type RouteProtocol, type ThrottleCheckResult, type SecretValue } from '@postern/contracts';
import { unmapIpv4 } from '@postern/config';
import { contextOf } from '@postern/route-client';
import { Deadline } from '@postern/service-kit';
import { UpstreamConversation, type ResponseReader } from './conversation';
import type { ClientDecoder } from './halting-decoder';
import { Limits, type LimitName } from './limits';
import type { LoginOutcome, MailProtocol } from './mail-proxy.metrics';
import type { ClientConnection, Session, SessionDeps } from './session';
import { splice } from './splice';

/** The log calls a session makes; each line carries the session's id and protocol. */
type LogCall = (fields: Record<string, unknown>, message: string) => void;
export interface SessionLog {
  readonly debug: LogCall;
  readonly info: LogCall;
  readonly warn: LogCall;
  readonly error: LogCall;
}

export type SessionState = 'greeting' | 'ready' | 'tls-handshake' | 'login' | 'proxied' | 'closed';

/** A login request from the client, after the protocol's own checks. */
export interface LoginRequest {
  /** The name the client authenticates as. */
  readonly user: string;
  readonly password: SecretValue;
  /** SASL authorization identity when it differs from `user` (delegated login): routing uses it. */
  readonly authzid: string | undefined;
}

/** How the upstream answered the credentials. `raw` is its final line, relayed as is. */
export type DialogueResult = { readonly ok: boolean; readonly raw: Uint8Array; readonly refusal: boolean };

/** What the protocol needs to talk to the upstream during a login. */
export interface Dialogue<E extends { raw?: Uint8Array }> {
  readonly reader: () => ResponseReader<E>;
  /** Reads the greeting; throws {@link PosternError} UNAVAILABLE unless it is a positive one. Returns what the dialogue needs of it. */
  greeting(conversation: UpstreamConversation<E>, deadline: Deadline): Promise<unknown>;
  /** Sends the client's address and the credentials; returns the final answer. */
  credentials(conversation: UpstreamConversation<E>, route: Route, login: LoginRequest, greeting: unknown, deadline: Deadline): Promise<DialogueResult>;
}

export abstract class BaseSession<Input> implements Session {
  protected socket: Socket;
  protected tls: boolean;
  protected state: SessionState = 'greeting';
  protected queue: Input[] = [];
  private pumping = false;
  /** Client bytes that arrived while a login was in progress: relayed upstream on success, decoded on failure. */
  private heldDuringLogin: Buffer[] = [];
  private heldBytes = 0;
  private commands = 0;
  private badCommands = 0;
  private failedLogins = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActivity = Date.now();
  private splicer: ReturnType<typeof splice> | undefined;
  private sessionLog: SessionLog | undefined;
  /** Closes the upstream connection of a login in progress (set from connect to splice). */
  private abortUpstream: (() => void) | undefined;
  private finish!: () => void;
  readonly done: Promise<void>;

  protected abstract readonly protocol: MailProtocol;
  /** Client bytes to inputs; halts after STARTTLS, a login or a SASL line (see halting-decoder.ts). */
  protected abstract readonly decoder: ClientDecoder<Input>;
  protected abstract handle(input: Input): Promise<void>;
  protected abstract greetingLine(): string;
  /** The goodbye before closing (`* BYE text` / `-ERR text`). */
  protected abstract goodbye(text: string): string;
  /** The reply to a login that failed for good (not found, refused) and to a temporary failure. */
  protected abstract loginFailedReply(tag: string | undefined, kind: 'failed' | 'temporary'): string;
  protected abstract readonly postAuthIdleMs: number;

  constructor(
    protected readonly connection: ClientConnection,
    protected readonly deps: SessionDeps,
  ) {
    this.socket = connection.socket;
    this.tls = connection.implicitTls;
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get proxied(): boolean {
    return this.state === 'proxied';
  }

  start(): void {
    this.deps.metrics.sessions.inc({ protocol: this.protocol, state: 'preauth' });
    this.attach(this.socket);
    this.armIdleTimer();
    void this.greet();
  }

  shutdown(): void {
    if (this.state === 'proxied' || this.state === 'closed') return;
    this.bye('Server shutting down');
  }

  destroy(): void {
    if (this.splicer) this.splicer.close();
    else this.close();
  }

  // --- connection plumbing ---------------------------------------------------------------------

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
  }

  private readonly onData = (chunk: Buffer) => {
    this.lastActivity = Date.now();
    if (this.state === 'greeting') {
      // The server speaks first (RFC 9051 §7.1, RFC 1939 §4). A client that does not wait is not a mail client.
      this.violation('talked-before-greeting');
      this.bye('Wait for the greeting');
      return;
    }
    if (this.state === 'login') {
      // Kept for the upstream (or decoded if the login fails), up to a bound. The socket keeps
      // reading (not paused) so a client that leaves mid-login is noticed at once.
      this.heldDuringLogin.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes > Limits.heldDuringLoginBytes) {
        this.violation('too-much-during-login');
        this.bye('Too much data before the login completed');
      }
      return;
    }
    if (this.state !== 'ready') return;
    this.queue.push(...this.decoder.push(chunk));
    void this.pump();
  };

  private readonly onClose = () => this.close();
  private readonly onError = (error: Error) => {
    this.log().debug({ err: error }, 'client connection error');
    this.close();
  };

  protected write(text: string | Uint8Array): void {
    if (this.state !== 'closed' && !this.socket.destroyed) this.socket.write(text);
  }

  protected bye(text: string): void {
    this.write(this.goodbye(text));
    this.close();
  }

  protected close(): void {
    if (this.state === 'closed') return;
    const wasProxied = this.state === 'proxied';
    this.state = 'closed';
    const abort = this.abortUpstream;
    this.abortUpstream = undefined;
    abort?.();
    clearTimeout(this.idleTimer);
    this.detach(this.socket);
    this.socket.on('error', () => undefined);
    // end() lets queued replies (a goodbye) reach the client; destroy follows if it lingers.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    if (!wasProxied) this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'preauth' });
    this.finish();
  }

  private armIdleTimer(): void {
    const check = () => {
      if (this.state === 'proxied' || this.state === 'closed') return;
      const quiet = Date.now() - this.lastActivity;
      if (quiet >= Limits.preAuthIdleMs && this.state !== 'login') {
        this.violation('idle-timeout');
        this.bye('Idle timeout');
        return;
      }
      this.idleTimer = setTimeout(check, Math.max(1000, Limits.preAuthIdleMs - quiet));
    };
    this.idleTimer = setTimeout(check, Limits.preAuthIdleMs);
  }

  protected violation(limit: LimitName): void {
    this.deps.metrics.limit(this.protocol, limit);
    this.log().info({ limit }, 'client crossed a limit');
  }

  /**
   * Logs with this session's id and protocol on the line. Not a pino child logger: making one per
   * session cost more CPU than the rest of a login's bookkeeping.
   */
  protected log(): SessionLog {
    if (this.sessionLog) return this.sessionLog;
    const bindings = { sid: this.connection.id, protocol: this.protocol };
    const logger = this.deps.logger;
    return (this.sessionLog = {
      debug: (fields, message) => logger.debug({ ...bindings, ...fields }, message),
      info: (fields, message) => logger.info({ ...bindings, ...fields }, message),
      warn: (fields, message) => logger.warn({ ...bindings, ...fields }, message),
      error: (fields, message) => logger.error({ ...bindings, ...fields }, message),
    });
  }

  protected clientIp(): string {
    return normaliseIp(this.connection.socket.remoteAddress);
  }

  protected clientPort(): number {
    return this.connection.socket.remotePort ?? 0;
  }

  protected proxyIp(): string {
    return normaliseIp(this.connection.socket.localAddress);
  }

  // --- the pre-auth dialogue -------------------------------------------------------------------

  private async greet(): Promise<void> {
    try {
      const deadline = new Deadline(this.deps.settings().zimbraReverseProxyRouteLookupTimeout);
      const verdict = await this.deps.throttle.check({ kind: 'connect', protocol: this.protocol, clientIp: this.clientIp(), requestId: this.connection.id }, deadline);
      if (this.state === 'closed') return;
      if (verdict.verdict === 'deny') {
        this.deps.metrics.throttleDenials.inc({ protocol: this.protocol, reason: verdict.reason });
        this.state = 'ready';
        this.bye(verdict.message);
        return;
      }
    } catch (error) {
      this.log().warn({ err: error }, 'throttle check failed at connect');
    }
    if (this.state !== 'greeting') return;
    this.state = 'ready';
    this.write(this.greetingLine());
  }

  /** Handles queued client input one item at a time: replies keep the order of the commands. */
  protected async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.state === 'ready' && this.queue.length > 0) {
        await this.handle(this.queue.shift()!);
        // The decoder halts at a command that changes how the next bytes are read, which is then
        // the last input queued: only once it is handled, and nothing else waits, may it go on.
        if (this.state === 'ready' && this.queue.length === 0) this.queue.push(...this.decoder.resume());
      }
    } catch (error) {
      this.log().error({ err: error }, 'session failed');
      this.close();
    } finally {
      this.pumping = false;
    }
  }

  /** Counts a command before login; false (and the session closed) past the limit. */
  protected countCommand(): boolean {
    if (++this.commands > Limits.commandsBeforeLogin) {
      this.violation('too-many-commands');
      this.bye('Too many commands before login');
      return false;
    }
    return true;
  }

  protected countBad(): void {
    if (++this.badCommands >= Limits.badCommandsBeforeBye) {
      this.violation('too-many-bad-commands');
      this.bye('Too many invalid commands');
    }
  }

  protected httpOnMailPort(): void {
    this.violation('http-on-mail-port');
    this.bye(`This is a${this.protocol === 'imap' ? 'n IMAP' : ' POP3'} server; HTTP is not spoken here`);
  }

  /** Waits for the next SASL continuation line from the client (the pump is busy in `handle`). */
  protected async nextInput(): Promise<Input | undefined> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) return next;
      if (this.state !== 'ready') return undefined;
      await new Promise<void>((resolve) => {
        const socket = this.socket;
        const wake = () => {
          socket.off('data', wake);
          socket.off('close', wake);
          setImmediate(resolve);
        };
        socket.once('data', wake);
        socket.once('close', wake);
      });
    }
  }

  /** Replies OK (via `accept`), discards pipelined plaintext, and upgrades the connection to TLS. */
  protected async upgradeToTls(accept: () => void): Promise<void> {
    accept();
    // Anything sent after STARTTLS/STLS in cleartext is discarded, never executed
    // (the STARTTLS command-injection class of bugs, CVE-2011-0411 and kin).
    const discarded = this.queue.splice(0).length + this.decoder.drainBuffered().length;
    if (discarded > 0) this.log().info({ discarded }, 'discarded plaintext pipelined after STARTTLS');
    this.state = 'tls-handshake';
    const plainSocket = this.socket;
    this.detach(plainSocket);
    const secure = new TLSSocket(plainSocket, { isServer: true, secureContext: this.deps.tls });
    secure.setNoDelay(true);
    this.socket = secure;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.violation('tls-handshake-timeout');
        secure.destroy();
      }, Limits.tlsHandshakeMs);
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        secure.off('secure', onSecure);
        secure.off('error', onError);
        secure.off('close', onClose);
        if (ok) {
          this.tls = true;
          this.state = 'ready';
          this.attach(secure);
        } else {
          this.close();
        }
        resolve();
      };
      const onSecure = () => settle(true);
      const onError = (error: Error) => {
        this.log().info({ err: error }, 'STARTTLS handshake failed');
        settle(false);
      };
      const onClose = () => settle(false);
      secure.once('secure', onSecure);
      secure.once('error', onError);
      secure.once('close', onClose);
    });
  }

  // --- the login ----------------------------------------------------------------------------

  /** Runs a login and, unless it succeeded, returns the session to the pre-auth dialogue. */
  protected async login<E extends { raw?: Uint8Array }>(tag: string | undefined, request: LoginRequest, dialogue: Dialogue<E>): Promise<void> {
    const routed = request.authzid ?? request.user;
    if (Buffer.byteLength(routed) > Limits.loginBytes || Buffer.byteLength(request.user) > Limits.loginBytes) {
      this.violation('login-too-long');
      this.write(this.loginFailedReply(tag, 'failed'));
      return;
    }
    if (request.password.byteLength > Limits.passwordBytes) {
      this.violation('password-too-long');
      this.write(this.loginFailedReply(tag, 'failed'));
      return;
    }
    if (this.state !== 'ready') return;
    this.state = 'login';
    const outcome = await this.relayLogin(tag, request, dialogue).catch((error: unknown) => {
      this.log().error({ err: error }, 'login failed unexpectedly');
      this.write(this.loginFailedReply(tag, 'temporary'));
      return 'unavailable' as const;
    });
    this.deps.metrics.logins.inc({ protocol: this.protocol, outcome });
    this.lastActivity = Date.now();
    // The login may have closed the session or handed it to the splice meanwhile.
    const now = this.state as SessionState;
    if (outcome === 'ok' || now === 'closed' || now === 'proxied') return;

    this.state = 'ready';
    const held = Buffer.concat(this.heldDuringLogin);
    this.heldDuringLogin = [];
    this.heldBytes = 0;
    // The decoder halted at the login; the pump resumes it once this returns.
    if (held.length > 0) this.queue.push(...this.decoder.push(held));
    if (outcome !== 'unavailable' && ++this.failedLogins >= Limits.failedLoginsPerConnection) {
      this.violation('too-many-failed-logins');
      this.bye('Too many failed logins');
    }
  }

  private async relayLogin<E extends { raw?: Uint8Array }>(tag: string | undefined, request: LoginRequest, dialogue: Dialogue<E>): Promise<LoginOutcome> {
    const s = this.deps.settings();
    const deadline = new Deadline(s.zimbraReverseProxyConnectTimeout);
    const routed = request.authzid ?? request.user;
    const clientIp = this.clientIp();
    const refuse = async (waitMs: number, outcome: LoginOutcome): Promise<LoginOutcome> => {
      await authWait(waitMs);
      this.write(this.loginFailedReply(tag, 'failed'));
      return outcome;
    };
    const temporary = (why: string, error?: unknown): LoginOutcome => {
      // The client left, and its leaving hung up the upstream: not a failure of anything.
      if (this.gone()) return 'aborted';
      this.log().warn({ err: error, why }, 'login: temporary failure');
      this.write(this.loginFailedReply(tag, 'temporary'));
      return 'unavailable';
    };
    const throttled = (message: string, reason: string): LoginOutcome => {
      this.deps.metrics.throttleDenials.inc({ protocol: this.protocol, reason });
      this.write(this.goodbye(message));
      if (this.protocol === 'imap' && tag) this.write(this.loginFailedReply(tag, 'failed'));
      this.close();
      return 'throttled';
    };

    // 1. Route. It comes first so the user throttle counts the account, not one of its spellings
    //    (an alias, an unqualified name); for most logins it is a cache read.
    const protocol: RouteProtocol = s.zimbraReverseProxySSLToUpstreamEnabled ? (this.protocol === 'imap' ? 'imapssl' : 'pop3ssl') : this.protocol;
    const query = { login: routed, protocol, clientIp, proxyIp: this.proxyIp(), requestId: this.connection.id };
    const lookupStarted = performance.now();
    let result;
    try {
      result = await this.deps.routes.resolve(query, deadline);
    } catch (error) {
      // A login the contract refuses (control characters, white space) names no user anywhere.
      if (error instanceof PosternError && error.code === ErrorCode.BadRequest) return refuse(s.zimbraReverseProxyAuthWaitInterval, 'not_found');
      return temporary('route lookup', error);
    }
    this.deps.metrics.lookup.observe({ source: result.outcome === 'ROUTE' ? result.source : 'directory' }, (performance.now() - lookupStarted) / 1000);
    if (result.outcome !== 'ROUTE') {
      // Counted as a failure of this address: guessing names is guessing too. The wait is this
      // frontend's own setting, so every failed login on a node takes the same time.
      this.reportFailure(routed.toLowerCase(), clientIp, deadline);
      return refuse(s.zimbraReverseProxyAuthWaitInterval, result.outcome === 'NOT_FOUND' ? 'not_found' : 'not_allowed');
    }
    const route = result.route;

    if (this.gone()) return 'aborted';

    // 2 and 3, at once: the user throttle (check only: the count goes up after a successful
    //    login, so a stranger cannot lock a user out by failing on purpose), and the upstream
    //    connection with its greeting. A refusal closes the connection unused.
    const preLogin = this.deps.throttle
      .check({ kind: 'pre-login', protocol: this.protocol, clientIp, user: route.accountName, requestId: this.connection.id }, deadline)
      .catch((error: unknown): ThrottleCheckResult => {
        this.log().warn({ err: error }, 'user throttle check failed');
        return { verdict: 'allow' };
      });
    const connectStarted = performance.now();
    const connecting = this.openUpstream(route, protocol.endsWith('ssl'), dialogue, deadline);
    // Handled below, after the throttle's answer; until then a failure must not count as unhandled.
    connecting.catch(() => undefined);
    const verdict = await preLogin;
    if (verdict.verdict === 'deny' || this.gone()) {
      void connecting.then(({ conversation }) => conversation.close(), () => undefined);
      return verdict.verdict === 'deny' ? throttled(verdict.message, verdict.reason) : 'aborted';
    }
    let conversation: UpstreamConversation<E>;
    let greeting: unknown;
    try {
      ({ conversation, greeting } = await connecting);
    } catch (error) {
      return temporary('upstream connect', error);
    }
    this.deps.metrics.upstreamConnect.observe({ protocol: this.protocol }, (performance.now() - connectStarted) / 1000);
    if (this.gone()) {
      conversation.close();
      return 'aborted';
    }

    // 4. The protocol's dialogue: client address, credentials, the final answer.
    const loginStarted = performance.now();
    let answer: DialogueResult;
    try {
      answer = await dialogue.credentials(conversation, route, request, greeting, deadline);
    } catch (error) {
      conversation.close();
      return temporary('upstream login', error);
    }
    this.deps.metrics.upstreamLogin.observe({ protocol: this.protocol }, (performance.now() - loginStarted) / 1000);
    if (this.gone()) {
      // The client left during the login: nothing to relay, nothing to count as a success.
      conversation.close();
      return 'aborted';
    }

    if (!answer.ok) {
      // Refused: forget the cached route (the mailbox may have moved), count, wait, relay.
      conversation.close();
      this.reportFailure(route.accountName, clientIp, deadline);
      void this.deps.routes.forget(route.accountName, route.accountId, routed, contextOf(query)).catch(() => undefined);
      await authWait(s.zimbraReverseProxyAuthWaitInterval);
      if (s.zimbraReverseProxyPassErrors && answer.refusal) this.write(answer.raw);
      else this.write(this.loginFailedReply(tag, 'failed'));
      this.log().info({ account: route.accountName, upstream: `${route.host}:${route.port}` }, 'upstream refused the login');
      return 'rejected';
    }

    // 5. Count the success; over the user limit the login is refused after all (as Zimbra does).
    try {
      const verdict = await this.deps.throttle.check({ kind: 'login-succeeded', protocol: this.protocol, clientIp, user: route.accountName, requestId: this.connection.id }, deadline);
      if (verdict.verdict === 'deny') {
        conversation.close();
        return throttled(verdict.message, verdict.reason);
      }
    } catch (error) {
      this.log().warn({ err: error }, 'counting the login failed');
    }
    if (this.gone()) {
      conversation.close();
      return 'aborted';
    }

    this.write(answer.raw);
    this.log().info({ account: route.accountName, upstream: `${route.host}:${route.port}`, source: result.source }, 'logged in');
    this.startSplice(conversation);
    return 'ok';
  }

  /** True once the client has gone (or the session was closed) while a login was under way. */
  private gone(): boolean {
    return this.state === 'closed';
  }

  /** Connects to the mailbox server and reads its greeting; the connection is closed on failure. */
  private async openUpstream<E extends { raw?: Uint8Array }>(route: Route, tls: boolean, dialogue: Dialogue<E>, deadline: Deadline): Promise<{ conversation: UpstreamConversation<E>; greeting: unknown }> {
    const socket = await this.deps.upstreams.connect({ host: route.host, port: route.port, tls }, deadline);
    const conversation = new UpstreamConversation(socket, dialogue.reader());
    // A client that leaves while the upstream is mid-login hangs it up at once, not at the deadline.
    this.abortUpstream = () => conversation.close();
    try {
      return { conversation, greeting: await dialogue.greeting(conversation, deadline) };
    } catch (error) {
      conversation.close();
      throw error;
    }
  }

  /** Tells the throttle of a failed login (per-user and per-IP failure limits); never waits for it. */
  private reportFailure(user: string, clientIp: string, deadline: Deadline): void {
    const counting = new Deadline(Math.max(1, deadline.remaining()));
    void this.deps.throttle.check({ kind: 'login-failed', protocol: this.protocol, clientIp, user, requestId: this.connection.id }, counting).catch((error: unknown) => {
      this.log().debug({ err: error }, 'reporting a failed login failed');
    });
  }

  private startSplice<E extends { raw?: Uint8Array }>(conversation: UpstreamConversation<E>): void {
    this.abortUpstream = undefined;
    const { socket: upstream, readAhead } = conversation.release();
    this.state = 'proxied';
    clearTimeout(this.idleTimer);
    this.detach(this.socket);
    this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'preauth' });
    this.deps.metrics.sessions.inc({ protocol: this.protocol, state: 'proxied' });
    if (readAhead.length > 0) this.socket.write(readAhead);
    // What the client pipelined after its login goes to the upstream, in order: the decoder halted
    // at the login command, so nothing after it was decoded.
    const pipelined = Buffer.concat([Buffer.from(this.decoder.drainBuffered()), ...this.heldDuringLogin]);
    this.heldDuringLogin = [];
    if (pipelined.length > 0) upstream.write(pipelined);
    this.splicer = splice(this.socket, upstream, this.postAuthIdleMs);
    void this.splicer.done.then((result) => {
      this.deps.metrics.bytes.inc({ protocol: this.protocol, direction: 'client_to_upstream' }, result.bytesFromClient);
      this.deps.metrics.bytes.inc({ protocol: this.protocol, direction: 'upstream_to_client' }, result.bytesFromUpstream);
      this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'proxied' });
      this.log().info({ end: result.end, bytesFromClient: result.bytesFromClient, bytesFromUpstream: result.bytesFromUpstream }, 'session ended');
      this.state = 'closed';
      this.finish();
    });
  }
}

/** The auth-wait delay: one timer, no thread held. */
export function authWait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `::ffff:a.b.c.d` → `a.b.c.d` (dual-stack listeners report IPv4 clients that way). */
export function normaliseIp(address: string | undefined): string {
  return address ? unmapIpv4(address) : '0.0.0.0';
}

/** A greeting or reply that is not what the protocol expects: a temporary failure for the client. */
export function unavailable(why: string): PosternError {
  return new PosternError(ErrorCode.Unavailable, why);
}
