/**
 * The pre-auth life of a client session, shared by IMAP and POP3: the greeting after the connect
 * check, commands answered one at a time and in order, the limits (commands, bad commands, failed
 * logins, idle time, time to log in), the STARTTLS upgrade, the SASL PLAIN exchange, the login
 * handed to the login flow and its result applied, then the splice.
 *
 * The subclasses choose the words (replies, greeting, goodbye); the socket is the ClientLink's;
 * the login is `runLogin`'s. A client that half-closes still gets every reply it is owed: queued
 * commands and a login under way are answered, then the connection closes.
 *
 * Longer than most files here on purpose: it is one state machine (greeting → ready ⇄ login →
 * proxied | closed), and every transition is in this file so it can be read in one place.
 */
import type { Socket } from 'node:net';
import type { Route, SecretValue } from '@postern/contracts';
import { Deadline } from '@postern/service-kit';
import { bearerErrorChallenge, decodeSaslPlain, type BearerMechanism, type SaslResponseLine } from '@postern/sasl';
import { ClientLink, type AcceptedConnection } from './client-link';
import { admit, tlsPolicy, type Refusal, type StartTlsMode, type TlsPolicy, type VerbPolicy } from './command-policy';
import type { ClientDecoder } from './halting-decoder';
import { Limits, type LimitName } from '../server/limits';
import { endpointFields } from '../login/login-audit';
import { gssapiExchange, gssapiLoginRequest, type ServiceCredentials } from '../login/gssapi-login';
import { authWait, LoginAbort, outcomeOf, runLogin, type LoginRequest, type LoginResult, type UpstreamLogin } from '../login/login-flow';
import type { MailProtocol } from '../mail-proxy.metrics';
import type { Session, SessionDeps } from './session';
import { ClientNoticeLimiter, sessionLog, type SessionLog } from './session-log';
import { splice, type Splice } from '../upstream/splice';

export type SessionState = 'greeting' | 'ready' | 'tls-handshake' | 'login' | 'proxied' | 'closed';

/** Why a SASL exchange gave no credentials. */
export type SaslFailure = 'aborted' | 'invalid-line' | 'not-a-response' | 'invalid-plain' | 'invalid-bearer' | 'gone';

/** The text of the BAD/-ERR reply to each SASL failure, both protocols alike but for how an abort is worded. */
export function saslFailureTexts(aborted: string): Readonly<Record<Exclude<SaslFailure, 'gone'>, string>> {
  return {
    aborted,
    'invalid-line': 'Invalid SASL response',
    'not-a-response': 'Expected a SASL response',
    'invalid-plain': 'Invalid SASL PLAIN response',
    'invalid-bearer': 'Invalid SASL bearer token response',
  };
}

/** A client's SASL line out of a decoded input; undefined when the input is something else. */
export type SaslLineOf<Input> = (input: Input) => SaslResponseLine | undefined;

/** Starts a session (greeting after the connect check, timers) and hands it to the listener. */
export function startSession(session: MailSession<unknown>): Session {
  session.start();
  return session;
}

/** One limiter per process: client notices are rate-limited per address across all sessions. */
const processNotices = new ClientNoticeLimiter();

export abstract class MailSession<Input> implements Session {
  protected readonly link: ClientLink;
  protected readonly log: SessionLog;
  protected readonly protocol: MailProtocol;
  protected state: SessionState = 'greeting';
  private readonly queue: Input[] = [];
  private pumping = false;
  /** Client bytes that arrived while a login was in progress: relayed upstream on success, decoded on failure. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private commands = 0;
  private badCommands = 0;
  private failedLogins = 0;
  private readonly connectedAt = Date.now();
  private lastActivity = this.connectedAt;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Aborted when the client is gone: the login under way stops and hangs up the upstream. There
   * is one only while a login runs (a held session keeps no controller).
   */
  private loginAbort: LoginAbort | undefined;
  private splicer: Splice | undefined;
  private finish!: () => void;
  private readonly requestId: string;
  private wakeInput: (() => void) | undefined;
  readonly done: Promise<void>;

  /** Client bytes to inputs; halts after STARTTLS, a login or a SASL line (see halting-decoder.ts). */
  protected abstract readonly decoder: ClientDecoder<Input>;
  protected abstract readonly postAuthIdleMs: number;
  /** The pre-auth state's name in the protocol's verb table (`not-authenticated`, `authorization`). */
  protected abstract readonly preAuthState: string;
  protected abstract handle(input: Input): Promise<void>;
  protected abstract greetingLine(): Uint8Array;
  /** The goodbye before closing (`* BYE text` / `-ERR text`). */
  protected abstract goodbye(text: string): Uint8Array;
  /** The reply to a login that failed for good (not found, refused) or for now (a dependency down). */
  protected abstract loginFailedReply(tag: string | undefined, kind: 'failed' | 'temporary'): Uint8Array;
  protected abstract startTlsMode(): StartTlsMode;

  constructor(
    accepted: AcceptedConnection,
    protected readonly deps: SessionDeps,
  ) {
    this.protocol = accepted.protocol;
    this.link = new ClientLink(accepted, { data: this.onData, end: this.onEnd, gone: this.onGone });
    this.log = sessionLog(deps.logger, { sid: accepted.id, protocol: accepted.protocol }, this.link.clientIp, deps.notices ?? processNotices);
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.requestId = accepted.id;
  }

  get proxied(): boolean {
    return this.state === 'proxied';
  }

  start(): void {
    this.deps.metrics.sessions.inc({ protocol: this.protocol, state: 'preauth' });
    this.armTimer();
    void this.greet();
  }

  shutdown(): void {
    if (this.state === 'proxied' || this.state === 'closed') return;
    this.bye('Server shutting down');
  }

  destroy(): void {
    if (this.splicer) this.splicer.close();
    else {
      this.link.destroy();
      this.close();
    }
  }

  // --- events from the client ------------------------------------------------------------------

  private readonly onData = (chunk: Buffer) => {
    this.lastActivity = Date.now();
    switch (this.state) {
      case 'greeting':
        // The server speaks first (RFC 9051 §7.1, RFC 1939 §4). A client that does not wait is not a mail client.
        this.violation('talked-before-greeting');
        return this.bye('Wait for the greeting');
      case 'login':
        // Kept for the upstream (or decoded if the login fails), up to a bound. The socket keeps
        // reading (not paused) so a client that leaves mid-login is noticed at once.
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        if (this.heldBytes > Limits.heldDuringLoginBytes) {
          this.violation('too-much-during-login');
          this.bye('Too much data before the login completed');
        }
        return;
      case 'ready':
        this.queue.push(...this.decoder.push(chunk));
        if (this.wakeInput) this.wakeInput();
        else void this.pump();
    }
  };

  /** The client sent FIN: answer what it sent (a login under way included), then close. */
  private readonly onEnd = () => {
    this.wakeInput?.();
    if (this.state === 'ready' && !this.pumping && this.queue.length === 0) this.close();
  };

  private readonly onGone = (error?: Error) => {
    if (error) this.log.debug({ err: error }, 'client connection error');
    this.loginAbort?.abort();
    this.close();
  };

  // --- replies and closing ---------------------------------------------------------------------

  protected write(text: string | Uint8Array): void {
    if (this.state !== 'closed') this.link.write(text);
  }

  protected bye(text: string): void {
    this.write(this.goodbye(text));
    this.close();
  }

  protected close(): void {
    if (this.state === 'closed' || this.state === 'proxied') return;
    this.state = 'closed';
    this.loginAbort?.abort();
    this.wakeInput?.();
    clearTimeout(this.timer);
    this.link.close();
    this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'preauth' });
    this.finish();
  }

  /**
   * One timer for the idle limit and the time limit to log in, re-armed for whichever comes
   * first: a client that trickles a byte a minute stays busy but not forever.
   */
  private armTimer(): void {
    const check = () => {
      if (this.state === 'proxied' || this.state === 'closed') return;
      const now = Date.now();
      const loginLimit = this.deps.settings().posternMailLoginTimeLimit;
      // A login under way has its own deadline: the limits apply once it has answered.
      if (this.state !== 'login') {
        if (now - this.connectedAt >= loginLimit) {
          this.violation('login-time-limit');
          return this.bye('Time limit to log in reached');
        }
        if (now - this.lastActivity >= Limits.preAuthIdleMs) {
          this.violation('idle-timeout');
          return this.bye('Idle timeout');
        }
      }
      const next = Math.min(Limits.preAuthIdleMs - (now - this.lastActivity), loginLimit - (now - this.connectedAt));
      this.timer = setTimeout(check, Math.max(1000, next));
    };
    this.timer = setTimeout(check, Math.min(Limits.preAuthIdleMs, this.deps.settings().posternMailLoginTimeLimit));
  }

  /** A limit crossed: counted always, logged within the client-notice budget. */
  protected violation(limit: LimitName): void {
    this.deps.metrics.limit(this.protocol, limit);
    this.log.clientMistake({ limit }, 'client crossed a limit');
  }

  // --- the pre-auth dialogue -------------------------------------------------------------------

  private async greet(): Promise<void> {
    try {
      const deadline = new Deadline(this.deps.settings().zimbraReverseProxyRouteLookupTimeout);
      const verdict = await this.deps.throttle.check(
        { kind: 'connect', protocol: this.protocol, clientIp: this.link.clientIp, requestId: this.requestId },
        deadline,
      );
      if (this.state === 'closed') return;
      if (verdict.verdict === 'deny') {
        this.deps.metrics.throttleDenials.inc({ protocol: this.protocol, reason: verdict.reason });
        // A refused login too: audited, within the per-address bound (a flood is made of these).
        if (this.deps.refusals?.admit(this.link.clientIp, this.protocol) ?? true)
          this.log.info({ ...endpointFields(this.link), outcome: 'throttled-ip', reason: verdict.reason }, 'login');
        this.state = 'ready';
        return this.bye(verdict.message);
      }
    } catch (error) {
      this.log.warn({ err: error }, 'throttle check failed at connect');
    }
    if (this.state !== 'greeting') return;
    this.state = 'ready';
    this.write(this.greetingLine());
    // A client that half-closed while the connect check ran has nothing more to say.
    if (this.link.ended) this.close();
  }

  /** Handles queued client input one item at a time: replies keep the order of the commands. */
  private async pump(): Promise<void> {
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
      this.log.error({ err: error }, 'session failed');
      this.close();
    } finally {
      this.pumping = false;
    }
    // A client that half-closed has had every answer: nothing more can come.
    if (this.link.ended && this.state === 'ready' && this.queue.length === 0) this.close();
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

  /** Counts a bad command (and logs it within the client-notice budget); BYE past the limit. */
  protected countBad(what: string): void {
    this.deps.metrics.clientErrors.inc({ protocol: this.protocol, kind: what });
    this.log.clientMistake({ error: what }, 'bad command');
    if (++this.badCommands >= Limits.badCommandsBeforeBye) {
      this.violation('too-many-bad-commands');
      this.bye('Too many invalid commands');
    }
  }

  protected httpOnMailPort(): void {
    this.violation('http-on-mail-port');
    this.bye(`This is a${this.protocol === 'imap' ? 'n IMAP' : ' POP3'} server; HTTP is not spoken here`);
  }

  /** What TLS allows now (the protocol's STARTTLS mode, this connection, the certificate). */
  protected tlsPolicy(): TlsPolicy {
    return tlsPolicy(this.startTlsMode(), this.link.tls, this.deps.tls !== undefined);
  }

  /** Checks a command against its verb table entry; logs it (secrets redacted) at debug. */
  protected admit(verb: VerbPolicy, describe: () => string): Refusal | undefined {
    if (this.deps.logger.isLevelEnabled('debug')) this.log.debug({ command: describe() }, 'command');
    return admit(verb, this.preAuthState, this.tlsPolicy());
  }

  /** Replies OK (via `accept`), discards pipelined plaintext, and upgrades the connection to TLS. */
  protected async upgradeToTls(accept: () => void): Promise<void> {
    accept();
    // Anything sent after STARTTLS/STLS in cleartext is discarded, never executed
    // (the STARTTLS command-injection class of bugs, CVE-2011-0411 and kin).
    const discarded = this.queue.splice(0).length + this.decoder.drainBuffered().length;
    if (discarded > 0) this.log.clientMistake({ discarded }, 'discarded plaintext pipelined after STARTTLS');
    this.state = 'tls-handshake';
    const result = await this.link.upgradeToTls(this.deps.tls!, Limits.tlsHandshakeMs, this.deps.sni);
    if (this.state !== 'tls-handshake') return;
    if (result === 'secure') {
      this.state = 'ready';
      return;
    }
    if (result === 'timeout') this.violation('tls-handshake-timeout');
    else this.log.clientMistake({}, 'STARTTLS handshake failed');
    this.close();
  }

  /**
   * The SASL PLAIN exchange of AUTHENTICATE and AUTH (RFC 4616): the initial response, or a `+`
   * challenge and the client's next line. Returns the credentials or why there are none.
   */
  protected async saslPlain(initialResponse: SecretValue | null, asSaslLine: SaslLineOf<Input>): Promise<LoginRequest | SaslFailure> {
    const response = initialResponse ?? (await this.saslResponse('', asSaslLine));
    if (typeof response === 'string') return response;
    const decoded = decodeSaslPlain(response);
    if (!decoded.ok) return 'invalid-plain';
    const { authcid, authzid, password } = decoded.credentials;
    return { user: authcid, password, authzid: authzid || undefined };
  }

  /** Sends a SASL challenge (base64; empty for `+ `) and reads the client's response to it. */
  protected async saslResponse(challenge: string, asSaslLine: SaslLineOf<Input>): Promise<SecretValue | SaslFailure> {
    this.write(`+ ${challenge}\r\n`);
    this.queue.push(...this.decoder.expectSaslLine());
    const next = await this.nextInput();
    if (next === undefined) return 'gone';
    const line = asSaslLine(next);
    if (line === undefined) {
      this.queue.unshift(next);
      return 'not-a-response';
    }
    if (line.kind === 'abort') return 'aborted';
    if (line.kind === 'invalid') return 'invalid-line';
    return line.base64;
  }

  /**
   * AUTHENTICATE / AUTH GSSAPI: the Kerberos exchange (see gssapi-login.ts), then the login as the
   * principal's account. Returns why the exchange stopped when the client broke it off (each
   * protocol words that reply as for PLAIN); every other outcome is answered here.
   */
  protected async gssapiLogin<E extends { raw?: Uint8Array }, G>(
    tag: string | undefined,
    initialResponse: SecretValue | null,
    asSaslLine: SaslLineOf<Input>,
    protocolLogin: UpstreamLogin<E, G>,
  ): Promise<SaslFailure | undefined> {
    const gssapi = this.deps.gssapi;
    let credentials: ServiceCredentials;
    try {
      if (!gssapi?.masterPassword) throw new Error('no master login secret (POSTERN_MASTER_AUTH_PASSWORD) is configured');
      credentials = gssapi.credentials(this.protocol);
    } catch (error) {
      this.log.warn({ err: error }, 'GSSAPI login impossible');
      this.write(this.loginFailedReply(tag, 'temporary'));
      return undefined;
    }
    const outcome = await gssapiExchange(credentials, initialResponse, (challenge) => this.saslResponse(challenge, asSaslLine));
    if (typeof outcome === 'string') return outcome;
    if (outcome.kind === 'authenticated') {
      await this.login(tag, gssapiLoginRequest(this.deps.settings(), gssapi.masterPassword, outcome.principal, outcome.authzid), protocolLogin, 'GSSAPI');
      return undefined;
    }
    // A ticket refused (expired, replayed, another service's): a failed login like a wrong password.
    this.deps.metrics.logins.inc({ protocol: this.protocol, outcome: 'rejected' });
    this.log.info({ ...endpointFields(this.link), mech: 'GSSAPI', outcome: 'rejected', reason: outcome.reason }, 'login');
    await authWait(this.deps.settings().zimbraReverseProxyAuthWaitInterval);
    this.write(this.loginFailedReply(tag, 'failed'));
    if (++this.failedLogins >= Limits.failedLoginsPerConnection) {
      this.violation('too-many-failed-logins');
      this.bye('Too many failed logins');
    }
    return undefined;
  }

  /** Waits for the next input (a SASL line) while the pump is busy in `handle`; undefined when the client is done. */
  private async nextInput(): Promise<Input | undefined> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) return next;
      if (this.state !== 'ready' || this.link.ended) return undefined;
      // Woken by the next decoded input, the end of the client's stream, or the session closing.
      await new Promise<void>((resolve) => (this.wakeInput = resolve));
      this.wakeInput = undefined;
    }
  }

  // --- the login -------------------------------------------------------------------------------

  /**
   * Runs a login and applies its result; unless it succeeded, the session goes back to the pre-auth
   * dialogue. A bearer login's refusal comes in its mechanism's form: the error challenge, the
   * client's response to it (read with `saslLine`), then the failure.
   */
  protected async login<E extends { raw?: Uint8Array }, G>(
    tag: string | undefined,
    request: LoginRequest,
    protocolLogin: UpstreamLogin<E, G>,
    mechanism: 'LOGIN' | 'PLAIN' | 'USER' | 'GSSAPI' | BearerMechanism,
    saslLine?: SaslLineOf<Input>,
  ): Promise<void> {
    const routed = request.principal ?? request.authzid ?? request.user;
    if (Buffer.byteLength(routed) > Limits.loginBytes || Buffer.byteLength(request.user) > Limits.loginBytes) {
      this.violation('login-too-long');
      return this.write(this.loginFailedReply(tag, 'failed'));
    }
    if (request.password.byteLength > (request.bearer ? Limits.bearerTokenBytes : Limits.passwordBytes)) {
      this.violation('password-too-long');
      return this.write(this.loginFailedReply(tag, 'failed'));
    }
    if (this.state !== 'ready') return;
    this.state = 'login';
    this.loginAbort = new LoginAbort();
    const context = {
      protocol: this.protocol,
      settings: this.deps.settings(),
      clientIp: this.link.clientIp,
      clientPort: this.link.clientPort,
      proxyIp: this.link.proxyIp,
      requestId: this.requestId,
      signal: this.loginAbort,
      log: this.log,
      relay: (bytes: Uint8Array) => this.write(bytes),
    };
    const started = performance.now();
    const result = await runLogin(this.deps, context, request, protocolLogin).catch((error: unknown): LoginResult => {
      this.log.error({ err: error }, 'login failed unexpectedly');
      return { kind: 'unavailable' };
    });
    this.loginAbort = undefined;
    const outcome = outcomeOf(result);
    this.deps.metrics.logins.inc({ protocol: this.protocol, outcome });
    // The audit line: one per login, whatever its outcome (see login-audit.ts).
    const route = 'route' in result ? result.route : undefined;
    const link = this.link;
    // One literal, its optional fields undefined (a line leaves those out): the same line as
    // endpointFields() spread into it, without copying objects into objects on every login.
    this.log.info(
      {
        rip: link.clientIp,
        rport: link.clientPort,
        lip: link.proxyIp,
        tls: link.tlsVersion,
        mech: mechanism,
        // A Kerberos login is the principal's; `user` would be the master login.
        user: request.principal ?? request.user,
        authzid: request.authzid,
        account: route?.accountName,
        upstream: route ? `${route.host}:${route.port}` : undefined,
        outcome,
        reason: result.kind === 'throttled' || result.kind === 'refused' ? result.reason : undefined,
        ms: Math.round(performance.now() - started),
      },
      'login',
    );
    this.lastActivity = Date.now();
    // The client may have left meanwhile (the result is then `aborted`, or came too late to matter).
    if ((this.state as SessionState) === 'closed') {
      if (result.kind === 'ok') result.upstream.destroy();
      return;
    }
    switch (result.kind) {
      case 'ok':
        this.write(result.reply);
        return this.startSplice(result.upstream, result.readAhead, request.principal ?? request.user, result.route);
      case 'throttled':
        this.deps.metrics.throttleDenials.inc({ protocol: this.protocol, reason: result.reason });
        this.write(this.goodbye(result.message));
        if (tag !== undefined) this.write(this.loginFailedReply(tag, 'failed'));
        return this.close();
      case 'bye':
        this.write(result.reply);
        return this.close();
      case 'refused':
        // A bearer login is answered below, after its error challenge.
        if (request.bearer === undefined || !saslLine) this.write(result.reply ?? this.loginFailedReply(tag, 'failed'));
        break;
      case 'unavailable':
        this.write(this.loginFailedReply(tag, 'temporary'));
        break;
      case 'aborted':
        return this.close();
    }
    this.state = 'ready';
    const held = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    // The decoder halted at the login; the pump resumes it once this returns.
    if (held.length > 0) this.queue.push(...this.decoder.push(held));
    if (result.kind === 'refused' && request.bearer !== undefined && saslLine) {
      // RFC 7628 §3.2.2: the error as a challenge; whatever the client answers (%x01, empty, `*`), the failure follows.
      const answered = await this.saslResponse(result.challenge ?? bearerErrorChallenge(request.bearer), saslLine);
      if (answered === 'gone') return;
      this.write(result.reply ?? this.loginFailedReply(tag, 'failed'));
    }
    if (result.kind === 'refused' && ++this.failedLogins >= Limits.failedLoginsPerConnection) {
      this.violation('too-many-failed-logins');
      this.bye('Too many failed logins');
    }
  }

  private startSplice(upstream: Socket, readAhead: Buffer, user: string, route: Route): void {
    this.state = 'proxied';
    clearTimeout(this.timer);
    const client = this.link.release();
    this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'preauth' });
    this.deps.metrics.sessions.inc({ protocol: this.protocol, state: 'proxied' });
    if (readAhead.length > 0) client.write(readAhead);
    // What the client pipelined after its login goes to the upstream, in order: the decoder halted
    // at the login command, so nothing after it was decoded.
    const pipelined = Buffer.concat([Buffer.from(this.decoder.drainBuffered()), ...this.held]);
    this.held = [];
    if (pipelined.length > 0) upstream.write(pipelined);
    const splicer = splice(client, upstream, { idleMs: this.postAuthIdleMs, halfClosedIdleMs: Limits.halfClosedIdleMs, clientEnded: this.link.ended });
    this.splicer = splicer;
    const forget = this.deps.live?.add({
      info: {
        id: this.requestId,
        protocol: this.protocol,
        user,
        accountName: route.accountName,
        clientIp: this.link.clientIp,
        upstream: `${route.host}:${route.port}`,
        since: new Date().toISOString(),
      },
      kick: (text) => {
        this.log.info({ account: route.accountName, text }, 'session ended by the proxy');
        splicer.kick(this.goodbye(text));
      },
    });
    void splicer.done.then((result) => {
      forget?.();
      this.deps.metrics.bytes.inc({ protocol: this.protocol, direction: 'client_to_upstream' }, result.bytesFromClient);
      this.deps.metrics.bytes.inc({ protocol: this.protocol, direction: 'upstream_to_client' }, result.bytesFromUpstream);
      this.deps.metrics.sessions.dec({ protocol: this.protocol, state: 'proxied' });
      this.log.info(
        {
          rip: this.link.clientIp,
          user,
          account: route.accountName,
          end: result.end,
          bytesFromClient: result.bytesFromClient,
          bytesFromUpstream: result.bytesFromUpstream,
          seconds: Math.round((Date.now() - this.connectedAt) / 1000),
        },
        'session ended',
      );
      this.state = 'closed';
      this.finish();
    });
  }
}
