/**
 * One IMAP client session (RFC 9051 / RFC 3501): the pre-auth commands served locally, checked
 * against the codec's verb table, the login relayed to the user's mailbox server (see
 * imap-upstream-login.ts), then a splice. What IMAP and POP3 share is in MailSession.
 */
import {
  encodeCapability,
  encodeContinuation,
  encodeIdResponse,
  encodeTagged,
  encodeUntaggedStatus,
  IMAP_VERBS,
  ImapCommandFramer,
  imapInputHalts,
  redactCommand,
  toImapClientInput,
  type ImapClientInput,
  type ImapCommand,
  type ImapIdParam,
  type SecretValue,
} from '@postern/imap-codec';
import type { EffectiveSettings } from '@postern/config';
import { bearerLoginRequest, bearerMechanisms, offeredBearerMechanism, type BearerMechanism } from '../login/bearer/bearer-sasl';
import type { Refusal, StartTlsMode } from '../session/command-policy';
import { haltingDecoder } from '../session/halting-decoder';
import { Limits } from '../server/limits';
import type { LoginRequest } from '../login/login-flow';
import { MailSession, startSession, saslFailureTexts, type SaslLineOf } from '../session/mail-session';
import type { SessionFactory } from '../session/session';
import { imapUpstreamLogin } from './imap-upstream-login';

/** Starts an IMAP session on an accepted connection. */
export const createImapSession: SessionFactory = (connection, deps) => startSession(new ImapSession(connection, deps));

const REFUSALS: Record<Refusal, { status: 'BAD' | 'NO'; text: string; code?: string }> = {
  'wrong-state': { status: 'BAD', text: 'Command not valid before login' },
  'tls-unavailable': { status: 'BAD', text: 'STARTTLS not available' },
  'cleartext-refused': { status: 'NO', code: 'PRIVACYREQUIRED', text: 'Cleartext login disabled; use STARTTLS' },
};

const SASL_FAILURES = saslFailureTexts('AUTHENTICATE aborted');

const SASL_LINE: SaslLineOf<ImapClientInput> = (input) => (input.kind === 'sasl-line' ? input.response : undefined);

/** Greetings by the settings object they were built from (a reload makes a new one), then by TLS state and version. */
const greetings = new WeakMap<EffectiveSettings, Map<string, Uint8Array>>();

class ImapSession extends MailSession<ImapClientInput> {
  protected readonly postAuthIdleMs = Limits.postAuthIdleImapMs;
  protected readonly preAuthState = 'not-authenticated';
  protected readonly decoder = haltingDecoder(
    new ImapCommandFramer({ maxLineBytes: Limits.preAuthLineBytes, maxLiteralBytes: Limits.preAuthLiteralBytes }),
    toImapClientInput,
    imapInputHalts,
  );
  private clientName: string | undefined;
  private clientVersion: string | undefined;

  /**
   * The greeting depends on the settings, the version and whether the connection is under TLS
   * (the capabilities): built once per settings object and TLS state, not per connection.
   */
  protected greetingLine(): Uint8Array {
    const settings = this.deps.settings();
    let built = greetings.get(settings);
    if (built === undefined) {
      built = new Map();
      greetings.set(settings, built);
    }
    const key = `${this.link.tls}:${this.deps.tls !== undefined}:${this.deps.version}`;
    let line = built.get(key);
    if (line === undefined) {
      const text = settings.zimbraReverseProxyImapExposeVersionOnBanner ? `Postern ${this.deps.version} IMAP4 ready` : 'IMAP4rev1 proxy server ready';
      line = encodeUntaggedStatus('OK', text, `CAPABILITY ${this.capabilities().join(' ')}`);
      built.set(key, line);
    }
    return line;
  }
  protected goodbye(text: string): Uint8Array {
    return encodeUntaggedStatus('BYE', text);
  }
  protected loginFailedReply(tag: string | undefined, kind: 'failed' | 'temporary'): Uint8Array {
    const { text, code } =
      kind === 'failed'
        ? { text: 'Authentication failed', code: 'AUTHENTICATIONFAILED' }
        : { text: 'Service temporarily unavailable, try again later', code: 'UNAVAILABLE' };
    return tag === undefined ? encodeUntaggedStatus('NO', text, code) : encodeTagged(tag, 'NO', text, code);
  }
  protected startTlsMode(): StartTlsMode {
    return this.deps.settings().zimbraReverseProxyImapStartTlsMode;
  }

  private reply(tag: string | undefined, status: 'OK' | 'NO' | 'BAD', text: string, code?: string): void {
    this.write(tag === undefined ? encodeUntaggedStatus(status, text, code) : encodeTagged(tag, status, text, code));
  }

  protected async handle(input: ImapClientInput): Promise<void> {
    switch (input.kind) {
      case 'continue':
        // Counted like a command: a client could otherwise ask for continuations without end.
        if (!this.countCommand()) return;
        return this.write(encodeContinuation('Ready for literal data'));
      case 'limit': {
        this.violation(input.limit);
        const text = input.limit === 'line-too-long' ? 'Line too long' : 'Literal too large';
        if (input.fatal) return this.bye(text);
        this.reply(input.tag, 'BAD', text);
        return this.countBad(input.limit);
      }
      case 'http':
        return this.httpOnMailPort();
      case 'bad':
        this.reply(input.tag, 'BAD', `Invalid command: ${input.message}`);
        return this.countBad('syntax');
      case 'sasl-line':
        this.reply(undefined, 'BAD', 'Unexpected continuation');
        return this.countBad('unexpected-continuation');
      case 'command':
        if (!this.countCommand()) return;
        return this.command(input.command);
    }
  }

  private async command(command: ImapCommand): Promise<void> {
    const { tag } = command;
    if (command.name === 'UNKNOWN') {
      this.reply(tag, 'BAD', 'Command not valid before login');
      return this.countBad('unknown-command');
    }
    const refusal = this.admit(IMAP_VERBS[command.name], () => redactCommand(command));
    // Kerberos sends no password: AUTHENTICATE GSSAPI is allowed before STARTTLS (Zimbra's rule).
    const gssapi = command.name === 'AUTHENTICATE' && command.mechanism === 'GSSAPI' && this.deps.settings().zimbraReverseProxyImapSaslGssapiEnabled;
    if (refusal && !(gssapi && refusal === 'cleartext-refused')) {
      const { status, text, code } = REFUSALS[refusal];
      this.reply(tag, status, text, code);
      return status === 'BAD' ? this.countBad(refusal) : undefined;
    }
    switch (command.name) {
      case 'CAPABILITY':
        this.write(encodeCapability(this.capabilities()));
        return this.reply(tag, 'OK', 'CAPABILITY completed');
      case 'NOOP':
        return this.reply(tag, 'OK', 'NOOP completed');
      case 'LOGOUT':
        this.write(encodeUntaggedStatus('BYE', 'Logging out'));
        this.reply(tag, 'OK', 'LOGOUT completed');
        return this.close();
      case 'ID':
        for (const { key, value } of command.params ?? []) {
          if (key.toLowerCase() === 'name' && value !== null) this.clientName = value;
          if (key.toLowerCase() === 'version' && value !== null) this.clientVersion = value;
        }
        this.write(encodeIdResponse(this.proxyId()));
        return this.reply(tag, 'OK', 'ID completed');
      case 'STARTTLS':
        return this.upgradeToTls(() => this.reply(tag, 'OK', 'Begin TLS negotiation now'));
      case 'LOGIN':
        return this.logIn(tag, 'LOGIN', { user: command.userid, password: command.password, authzid: undefined });
      case 'AUTHENTICATE': {
        const bearer = offeredBearerMechanism(this.deps.settings(), 'imap', command.mechanism);
        if (bearer) return this.bearerLogin(tag, bearer, command.initialResponse);
        if (gssapi) {
          const failure = await this.gssapiLogin(tag, command.initialResponse, SASL_LINE, this.upstreamLogin(tag, 'AUTHENTICATE'));
          if (failure !== undefined && failure !== 'gone') this.reply(tag, 'BAD', SASL_FAILURES[failure]);
          return;
        }
        if (command.mechanism !== 'PLAIN' || !this.deps.settings().zimbraReverseProxyImapSaslPlainEnabled)
          return this.reply(tag, 'NO', 'Unsupported authentication mechanism', 'CANNOT');
        const credentials = await this.saslPlain(command.initialResponse, SASL_LINE);
        if (typeof credentials !== 'string') return this.logIn(tag, 'AUTHENTICATE', credentials);
        if (credentials !== 'gone') this.reply(tag, 'BAD', SASL_FAILURES[credentials]);
        return;
      }
    }
  }

  private logIn(tag: string, verb: 'LOGIN' | 'AUTHENTICATE', request: LoginRequest): Promise<void> {
    const mechanism = request.bearer ?? (verb === 'LOGIN' ? 'LOGIN' : 'PLAIN');
    return this.login(tag, request, this.upstreamLogin(tag, verb), mechanism, SASL_LINE);
  }

  private upstreamLogin(tag: string, verb: 'LOGIN' | 'AUTHENTICATE') {
    const id = this.deps.settings().zimbraReverseProxySendImapId ? this.idParams() : undefined;
    return imapUpstreamLogin({ clientTag: tag, verb, id });
  }

  /** AUTHENTICATE OAUTHBEARER / XOAUTH2: the user the message names routes the login; the mailbox server checks the token. */
  private async bearerLogin(tag: string, mechanism: BearerMechanism, initialResponse: SecretValue | null): Promise<void> {
    const response = initialResponse ?? (await this.saslResponse('', SASL_LINE));
    if (typeof response === 'string') {
      if (response !== 'gone') this.reply(tag, 'BAD', SASL_FAILURES[response]);
      return;
    }
    const request = bearerLoginRequest(mechanism, response);
    if (request === undefined) return this.reply(tag, 'BAD', SASL_FAILURES['invalid-bearer']);
    return this.logIn(tag, 'AUTHENTICATE', request);
  }

  /** What the proxy says of itself in its ID reply (RFC 2971); its version only when the banner shows it. */
  private proxyId(): ImapIdParam[] {
    const id = [{ key: 'name', value: 'Postern' }];
    if (this.deps.settings().zimbraReverseProxyImapExposeVersionOnBanner) id.push({ key: 'version', value: this.deps.version });
    return id;
  }

  /** What this session announces: depends on TLS and the STARTTLS mode (Zimbra's rules). */
  private capabilities(): string[] {
    const s = this.deps.settings();
    const caps = [...s.zimbraReverseProxyImapEnabledCapability];
    if (!caps.some((c) => c.toUpperCase() === 'IMAP4REV1')) caps.unshift('IMAP4rev1');
    const tls = this.tlsPolicy();
    const gssapi = s.zimbraReverseProxyImapSaslGssapiEnabled ? ['AUTH=GSSAPI'] : [];
    if (tls.cleartextRefused) return [...caps, ...gssapi, 'STARTTLS', 'LOGINDISABLED'];
    const plain = [...(s.zimbraReverseProxyImapSaslPlainEnabled ? ['PLAIN'] : []), ...bearerMechanisms(s, 'imap')].map((m) => `AUTH=${m}`);
    return [...caps, ...plain, ...gssapi, ...(tls.startTlsAvailable ? ['STARTTLS'] : [])];
  }

  /**
   * ID toward the mailbox server: the client's address for its logs and limits, and X-VIA naming
   * the client and this proxy. Values from the client are made printable ASCII and cut to the
   * RFC 2971 bound, so no literal is ever needed.
   */
  private idParams(): ImapIdParam[] {
    const clean = (value: string) => value.replace(/[^\x20-\x7e]|["\\]/g, '?').slice(0, 1024);
    const client = this.clientName && this.clientVersion ? `${this.clientName}/${this.clientVersion}` : this.clientName;
    const via = [client, `${this.link.proxyIp}(Postern)`].filter(Boolean).join(',');
    const params: ImapIdParam[] = [
      { key: 'X-ORIGINATING-IP', value: this.link.clientIp },
      { key: 'X-ORIGINATING-PORT', value: String(this.link.clientPort) },
      { key: 'X-VIA', value: clean(via) },
    ];
    if (this.clientName) params.push({ key: 'name', value: clean(this.clientName) });
    if (this.clientVersion) params.push({ key: 'version', value: clean(this.clientVersion) });
    return params;
  }
}
