/**
 * One POP3 client session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): the
 * AUTHORIZATION state served locally, checked against the codec's verb table, the login relayed to
 * the user's mailbox server (see pop3-upstream-login.ts), then a splice. What IMAP and POP3 share
 * is in MailSession.
 */
import {
  encodeErr,
  encodeMultiline,
  encodeOk,
  Pop3CommandFramer,
  pop3InputHalts,
  POP3_VERBS,
  redactPop3Command,
  toPop3ClientInput,
  type Pop3ClientInput,
  type Pop3Command,
  type SecretValue,
} from '@postern/pop3-codec';
import { bearerLoginRequest, bearerMechanisms, offeredBearerMechanism, type BearerMechanism } from '../login/bearer/bearer-sasl';
import type { Refusal, StartTlsMode } from '../session/command-policy';
import { haltingDecoder } from '../session/halting-decoder';
import { Limits } from '../server/limits';
import type { LoginRequest } from '../login/login-flow';
import { MailSession, startSession, saslFailureTexts, type SaslLineOf } from '../session/mail-session';
import type { SessionFactory } from '../session/session';
import { pop3UpstreamLogin } from './pop3-upstream-login';

/** Starts a POP3 session on an accepted connection. */
export const createPop3Session: SessionFactory = (connection, deps) => startSession(new Pop3Session(connection, deps));

const REFUSALS: Record<Refusal, { text: string; code?: string }> = {
  'wrong-state': { text: 'Command not valid in this state' },
  'tls-unavailable': { text: 'STLS not available' },
  'cleartext-refused': { code: 'AUTH', text: 'Cleartext login disabled; use STLS' },
};

const SASL_FAILURES = saslFailureTexts('Authentication aborted');

const SASL_LINE: SaslLineOf<Pop3ClientInput> = (input) => (input.kind === 'sasl-line' ? input.response : undefined);

class Pop3Session extends MailSession<Pop3ClientInput> {
  protected readonly postAuthIdleMs = Limits.postAuthIdlePop3Ms;
  protected readonly preAuthState = 'authorization';
  // RFC 2449 §4 caps command lines at 255 octets, which leaves no room for a long password in
  // `PASS`; the proxy takes any password up to its own limit, as Dovecot and Zimbra do.
  // A Kerberos token (AUTH GSSAPI) is longer still: the IMAP pre-auth line bound applies then.
  protected readonly decoder = haltingDecoder(
    new Pop3CommandFramer({ maxLineBytes: Math.max(Limits.passwordBytes + 16, Limits.preAuthLineBytes) }),
    toPop3ClientInput,
    pop3InputHalts,
  );
  private user: string | undefined;

  protected greetingLine(): Uint8Array {
    return encodeOk(this.deps.settings().zimbraReverseProxyPop3ExposeVersionOnBanner ? `Postern ${this.deps.version} POP3 ready` : 'POP3 ready');
  }
  protected goodbye(text: string): Uint8Array {
    return encodeErr(text);
  }
  protected loginFailedReply(_tag: string | undefined, kind: 'failed' | 'temporary'): Uint8Array {
    return kind === 'failed' ? encodeErr('Authentication failed', 'AUTH') : encodeErr('Service temporarily unavailable, try again later', 'SYS/TEMP');
  }
  protected startTlsMode(): StartTlsMode {
    return this.deps.settings().zimbraReverseProxyPop3StartTlsMode;
  }

  protected async handle(input: Pop3ClientInput): Promise<void> {
    switch (input.kind) {
      case 'limit':
        // The framer has stopped: nothing after this line can be read.
        this.violation(input.limit);
        return this.bye('Line too long');
      case 'http':
        return this.httpOnMailPort();
      case 'bad':
        this.write(encodeErr(`Invalid command (${input.reason})`));
        return this.countBad('syntax');
      case 'sasl-line':
        this.write(encodeErr('Unexpected continuation'));
        return this.countBad('unexpected-continuation');
      case 'command':
        if (!this.countCommand()) return;
        return this.command(input.command);
    }
  }

  private async command(command: Pop3Command): Promise<void> {
    if (command.name === 'UNKNOWN') {
      this.write(encodeErr('Command not valid in this state'));
      return this.countBad('unknown-command');
    }
    // `AUTH` alone lists the mechanisms (RFC 5034 §4, as many clients expect): allowed before STLS, naming none then.
    const listing = command.name === 'AUTH' && command.mechanism === null;
    // Kerberos sends no password: AUTH GSSAPI is allowed before STLS (Zimbra's rule).
    const gssapi = command.name === 'AUTH' && command.mechanism === 'GSSAPI' && this.deps.settings().zimbraReverseProxyPop3SaslGssapiEnabled;
    const refusal = this.admit(POP3_VERBS[command.name], () => redactPop3Command(command));
    if (refusal && !((listing || gssapi) && refusal === 'cleartext-refused')) {
      const { text, code } = REFUSALS[refusal];
      this.write(encodeErr(text, code));
      return refusal === 'cleartext-refused' ? undefined : this.countBad(refusal);
    }
    switch (command.name) {
      case 'CAPA':
        return this.write(encodeMultiline('Capability list follows', this.capabilities()));
      case 'NOOP':
        return this.write(encodeOk());
      case 'QUIT':
        this.write(encodeOk('Logging out'));
        return this.close();
      case 'STLS':
        return this.upgradeToTls(() => this.write(encodeOk('Begin TLS negotiation now')));
      case 'USER':
        this.user = command.user;
        return this.write(encodeOk());
      case 'PASS': {
        const user = this.user;
        this.user = undefined;
        if (user === undefined) {
          this.write(encodeErr('USER first'));
          return this.countBad('pass-without-user');
        }
        return this.logIn(false, { user, password: command.password, authzid: undefined });
      }
      case 'AUTH': {
        if (command.mechanism === null) return this.write(encodeMultiline('', this.saslMechanisms()));
        if (gssapi) {
          const failure = await this.gssapiLogin(undefined, command.initialResponse, SASL_LINE, this.upstreamLogin(true));
          if (failure !== undefined && failure !== 'gone') this.write(encodeErr(SASL_FAILURES[failure]));
          return;
        }
        const enabled = this.deps.settings().zimbraReverseProxyPop3SaslPlainEnabled;
        const bearer = offeredBearerMechanism(this.deps.settings(), 'pop3', command.mechanism);
        if (bearer) return this.bearerLogin(bearer, command.initialResponse);
        if (command.mechanism !== 'PLAIN' || !enabled) return this.write(encodeErr('Unsupported authentication mechanism'));
        const credentials = await this.saslPlain(command.initialResponse, SASL_LINE);
        if (typeof credentials !== 'string') return this.logIn(true, credentials);
        if (credentials !== 'gone') this.write(encodeErr(SASL_FAILURES[credentials]));
        return;
      }
      case 'APOP':
        return this.write(encodeErr('APOP not supported'));
    }
  }

  private logIn(sasl: boolean, request: LoginRequest): Promise<void> {
    const mechanism = request.bearer ?? (sasl ? 'PLAIN' : 'USER');
    return this.login(undefined, request, this.upstreamLogin(sasl), mechanism, SASL_LINE);
  }

  private upstreamLogin(sasl: boolean) {
    return pop3UpstreamLogin({ sasl, xoip: this.deps.settings().zimbraReverseProxySendPop3Xoip });
  }

  /** AUTH OAUTHBEARER / XOAUTH2: the user the message names routes the login; the mailbox server checks the token. */
  private async bearerLogin(mechanism: BearerMechanism, initialResponse: SecretValue | null): Promise<void> {
    const response = initialResponse ?? (await this.saslResponse('', SASL_LINE));
    if (typeof response === 'string') {
      if (response !== 'gone') this.write(encodeErr(SASL_FAILURES[response]));
      return;
    }
    const request = bearerLoginRequest(mechanism, response);
    if (request === undefined) return this.write(encodeErr(SASL_FAILURES['invalid-bearer']));
    return this.logIn(true, request);
  }

  /**
   * The SASL mechanisms offered now (CAPA's SASL line, the AUTH listing), Zimbra's rules: none that
   * sends a secret before TLS when TLS is required; GSSAPI sends none.
   */
  private saslMechanisms(): string[] {
    const s = this.deps.settings();
    const secret = this.tlsPolicy().cleartextRefused ? [] : [...(s.zimbraReverseProxyPop3SaslPlainEnabled ? ['PLAIN'] : []), ...bearerMechanisms(s, 'pop3')];
    return [...secret, ...(s.zimbraReverseProxyPop3SaslGssapiEnabled ? ['GSSAPI'] : [])];
  }

  /** CAPA: configured capabilities, SASL and STLS by TLS state and mode (Zimbra's rules: `only` hides USER before TLS). */
  private capabilities(): string[] {
    const s = this.deps.settings();
    const tls = this.tlsPolicy();
    const caps = s.zimbraReverseProxyPop3EnabledCapability.filter((c) => !(tls.cleartextRefused && c.toUpperCase() === 'USER'));
    const sasl = this.saslMechanisms();
    if (sasl.length > 0) caps.push(`SASL ${sasl.join(' ')}`);
    if (tls.startTlsAvailable) caps.push('STLS');
    return caps;
  }
}
