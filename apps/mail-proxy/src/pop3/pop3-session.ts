/**
 * One POP3 client session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): the
 * AUTHORIZATION state served locally, the login relayed to the user's mailbox server, then a
 * splice (see BaseSession for the login flow shared with IMAP).
 *
 * The client's address goes upstream as `XCLIENT ADDR= PORT=` when the server's greeting offers
 * `[XCLIENT]` (Dovecot), else as Zimbra's `XOIP` when `zimbraReverseProxySendPop3Xoip` is on.
 */
import type { Route, SecretValue } from '@postern/contracts';
import type { Deadline } from '@postern/service-kit';
import { BaseSession, unavailable, type Dialogue, type DialogueResult, type LoginRequest } from '../base-session';
import type { UpstreamConversation } from '../conversation';
import { Limits } from '../limits';
import type { ClientConnection, Session, SessionDeps } from '../session';
import type { Pop3ClientCommand, Pop3Input, Pop3UpstreamEvent } from './pop3-wire';
import { createPop3Decoder, createPop3UpstreamReader, decodePlain, encodeSaslResponse } from './pop3-wire.adapter';

export function createPop3Session(connection: ClientConnection, deps: SessionDeps): Session {
  const session = new Pop3Session(connection, deps);
  session.start();
  return session;
}

class Pop3Session extends BaseSession<Pop3Input> {
  protected readonly protocol = 'pop3' as const;
  protected readonly postAuthIdleMs = Limits.postAuthIdlePop3Ms;
  protected readonly decoder = createPop3Decoder();
  private user: string | undefined;

  protected greetingLine(): string {
    return this.deps.settings().zimbraReverseProxyPop3ExposeVersionOnBanner ? `+OK Postern ${this.deps.version} POP3 ready\r\n` : '+OK POP3 ready\r\n';
  }
  protected goodbye(text: string): string {
    return `-ERR ${text}\r\n`;
  }
  protected loginFailedReply(_tag: string | undefined, kind: 'failed' | 'temporary'): string {
    return kind === 'failed' ? '-ERR [AUTH] Authentication failed\r\n' : '-ERR [SYS/TEMP] Service temporarily unavailable, try again later\r\n';
  }

  private ok(text: string): void {
    this.write(`+OK ${text}\r\n`);
  }
  private err(text: string): void {
    this.write(`-ERR ${text}\r\n`);
  }

  protected async handle(input: Pop3Input): Promise<void> {
    switch (input.kind) {
      case 'limit':
        this.violation(input.limit);
        if (input.fatal) return this.bye('Line too long');
        this.err('Line too long');
        return this.countBad();
      case 'http':
        return this.httpOnMailPort();
      case 'bad':
        this.err(`Invalid command (${input.reason})`);
        return this.countBad();
      case 'sasl-line':
        this.err('Unexpected continuation');
        return this.countBad();
      case 'command':
        if (!this.countCommand()) return;
        return this.command(input.command);
    }
  }

  private async command(command: Pop3ClientCommand): Promise<void> {
    switch (command.name) {
      case 'CAPA':
        this.write(['+OK Capability list follows', ...this.capabilities(), '.', ''].join('\r\n'));
        return;
      case 'NOOP':
        return this.ok('');
      case 'QUIT':
        this.ok('Logging out');
        return this.close();
      case 'STLS':
        if (this.tls || !this.deps.tls || this.deps.settings().zimbraReverseProxyPop3StartTlsMode === 'off') {
          this.err('STLS not available');
          return this.countBad();
        }
        return this.upgradeToTls(() => this.ok('Begin TLS negotiation now'));
      case 'USER':
        if (this.cleartextRefused()) return this.err('[AUTH] Cleartext login disabled; use STLS');
        this.user = command.user;
        return this.ok('');
      case 'PASS': {
        if (this.cleartextRefused()) return this.err('[AUTH] Cleartext login disabled; use STLS');
        const user = this.user;
        this.user = undefined;
        if (user === undefined) {
          this.err('USER first');
          return this.countBad();
        }
        return this.login(undefined, { user, password: command.password, authzid: undefined }, this.dialogue());
      }
      case 'AUTH':
        return this.authenticate(command.mechanism, command.initialResponse);
      case 'APOP':
        return this.err('APOP not supported');
      case 'UNKNOWN':
        this.err('Command not valid in this state');
        return this.countBad();
    }
  }

  /** CAPA: configured capabilities, SASL and STLS by TLS state and mode (Zimbra's rules: `only` hides USER before TLS). */
  private capabilities(): string[] {
    const s = this.deps.settings();
    const refused = this.cleartextRefused();
    const caps = s.zimbraReverseProxyPop3EnabledCapability.filter((c) => !(refused && c.toUpperCase() === 'USER'));
    if (s.zimbraReverseProxyPop3SaslPlainEnabled && !refused) caps.push('SASL PLAIN');
    if (!this.tls && this.deps.tls && s.zimbraReverseProxyPop3StartTlsMode !== 'off') caps.push('STLS');
    return caps;
  }

  private cleartextRefused(): boolean {
    return !this.tls && this.deps.settings().zimbraReverseProxyPop3StartTlsMode === 'only' && this.deps.tls !== undefined;
  }

  private async authenticate(mechanism: string | null, initialResponse: SecretValue | null): Promise<void> {
    const enabled = this.deps.settings().zimbraReverseProxyPop3SaslPlainEnabled;
    if (mechanism === null) {
      // RFC 5034 §4 allows AUTH without arguments to list the mechanisms (as many clients expect).
      this.write(['+OK', ...(enabled && !this.cleartextRefused() ? ['PLAIN'] : []), '.', ''].join('\r\n'));
      return;
    }
    if (mechanism.toUpperCase() !== 'PLAIN' || !enabled) return this.err('Unsupported authentication mechanism');
    if (this.cleartextRefused()) return this.err('[AUTH] Authentication disabled before STLS');
    let response = initialResponse;
    if (response === null) {
      this.write('+ \r\n');
      this.queue.push(...this.decoder.expectSaslLine());
      const next = await this.nextInput();
      if (next === undefined) return;
      if (next.kind !== 'sasl-line') {
        this.queue.unshift(next);
        return this.err('Expected a SASL response');
      }
      if (next.response.kind === 'abort') return this.err('Authentication aborted');
      if (next.response.kind === 'invalid') return this.err('Invalid SASL response');
      response = next.response.base64;
    }
    const decoded = decodePlain(response);
    if (!decoded) return this.err('Invalid SASL PLAIN response');
    return this.login(undefined, { user: decoded.authcid, password: decoded.password, authzid: decoded.authzid || undefined }, this.dialogue(true));
  }

  private dialogue(sasl = false): Dialogue<Pop3UpstreamEvent> {
    return {
      reader: createPop3UpstreamReader,
      greeting: async (conversation, deadline) => {
        const greeting = await conversation.next(deadline, 'greeting');
        if (greeting.kind !== 'ok') throw unavailable(`upstream greeting was not +OK: ${greeting.text}`);
        return greeting.code?.split(/\s+/).some((word) => word.toUpperCase() === 'XCLIENT') ?? false;
      },
      credentials: (conversation, route, login, greeting, deadline) => this.credentials(conversation, route, login, greeting === true, deadline, sasl),
    };
  }

  private async credentials(conversation: UpstreamConversation<Pop3UpstreamEvent>, route: Route, login: LoginRequest, xclient: boolean, deadline: Deadline, sasl: boolean): Promise<DialogueResult> {
    if (xclient) {
      conversation.write(`XCLIENT ADDR=${this.clientIp()} PORT=${this.clientPort()}\r\n`);
      await conversation.next(deadline, 'XCLIENT');
    } else if (this.deps.settings().zimbraReverseProxySendPop3Xoip) {
      conversation.write(`XOIP ${this.clientIp()}\r\n`);
      // Servers without XOIP answer -ERR; the login goes on either way.
      await conversation.next(deadline, 'XOIP');
    }
    if (sasl || login.authzid !== undefined) {
      // Delegated (authzid set): the client's own identity authenticates, for the account the route found.
      const response = login.authzid !== undefined ? encodeSaslResponse(route.upstreamUser, login.user, login.password) : encodeSaslResponse('', route.upstreamUser, login.password);
      conversation.write(`AUTH PLAIN ${response}\r\n`);
    } else {
      // The name comes from the directory: a line break in it would be a second command.
      if (/[\0\r\n]/.test(route.upstreamUser)) throw unavailable('the directory gave a user name with a line break');
      conversation.write(`USER ${route.upstreamUser}\r\n`);
      const user = await conversation.next(deadline, 'USER');
      if (user.kind !== 'ok') return { ok: false, raw: user.raw, refusal: user.kind === 'err' };
      conversation.write(Buffer.concat([Buffer.from('PASS '), login.password.bytes(), Buffer.from('\r\n')]));
    }
    const final = await conversation.next(deadline, 'login');
    return { ok: final.kind === 'ok', raw: final.raw, refusal: final.kind === 'err' };
  }
}
