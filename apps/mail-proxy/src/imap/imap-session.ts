/**
 * One IMAP client session (RFC 9051 / RFC 3501): the pre-auth commands served locally, the login
 * relayed to the user's mailbox server with the client's tag, then a splice (see BaseSession for
 * the login flow shared with POP3).
 */
import type { Route, SecretValue } from '@postern/contracts';
import { BaseSession, unavailable, type Dialogue, type DialogueResult, type LoginRequest } from '../base-session';
import type { UpstreamConversation } from '../conversation';
import { Limits } from '../limits';
import type { ClientConnection, Session, SessionDeps } from '../session';
import type { Deadline } from '@postern/service-kit';
import type { ClientInput, ImapClientCommand, UpstreamEvent } from './imap-wire';
import {
  createClientDecoder,
  createUpstreamReader,
  decodePlain,
  encodeAuthenticatePlain,
  encodeIdCommand,
  encodeIdResponse,
  encodeLogin,
  encodeSaslResponse,
  parseCapabilities,
} from './imap-wire.adapter';

export function createImapSession(connection: ClientConnection, deps: SessionDeps): Session {
  const session = new ImapSession(connection, deps);
  session.start();
  return session;
}

class ImapSession extends BaseSession<ClientInput> {
  protected readonly protocol = 'imap' as const;
  protected readonly postAuthIdleMs = Limits.postAuthIdleImapMs;
  protected readonly decoder = createClientDecoder();
  private clientName: string | undefined;
  private clientVersion: string | undefined;

  protected greetingLine(): string {
    const text = this.deps.settings().zimbraReverseProxyImapExposeVersionOnBanner ? `Postern ${this.deps.version} IMAP4 ready` : 'IMAP4rev1 proxy server ready';
    return `* OK [CAPABILITY ${this.capabilities().join(' ')}] ${text}\r\n`;
  }
  protected goodbye(text: string): string {
    return `* BYE ${text}\r\n`;
  }
  protected loginFailedReply(tag: string | undefined, kind: 'failed' | 'temporary'): string {
    return kind === 'failed' ? `${tag ?? '*'} NO [AUTHENTICATIONFAILED] Authentication failed\r\n` : `${tag ?? '*'} NO [UNAVAILABLE] Service temporarily unavailable, try again later\r\n`;
  }

  private reply(tag: string, status: 'OK' | 'NO' | 'BAD', text: string): void {
    this.write(`${tag} ${status} ${text}\r\n`);
  }

  protected async handle(input: ClientInput): Promise<void> {
    switch (input.kind) {
      case 'continue':
        // Counted like a command: a client could otherwise ask for continuations without end.
        if (!this.countCommand()) return;
        this.write('+ Ready for literal data\r\n');
        return;
      case 'limit':
        this.violation(input.limit);
        if (input.fatal) return this.bye(input.limit === 'line-too-long' ? 'Line too long' : 'Literal too large');
        this.reply(input.tag ?? '*', 'BAD', input.limit === 'line-too-long' ? 'Line too long' : 'Literal too large');
        return this.countBad();
      case 'http':
        return this.httpOnMailPort();
      case 'bad':
        this.reply(input.tag ?? '*', 'BAD', `Invalid command: ${input.message}`);
        return this.countBad();
      case 'sasl-line':
        this.reply('*', 'BAD', 'Unexpected continuation');
        return this.countBad();
      case 'command':
        if (!this.countCommand()) return;
        return this.command(input.tag, input.command);
    }
  }

  private async command(tag: string, command: ImapClientCommand): Promise<void> {
    switch (command.name) {
      case 'CAPABILITY':
        this.write(`* CAPABILITY ${this.capabilities().join(' ')}\r\n`);
        return this.reply(tag, 'OK', 'CAPABILITY completed');
      case 'NOOP':
        return this.reply(tag, 'OK', 'NOOP completed');
      case 'LOGOUT':
        this.write('* BYE Logging out\r\n');
        this.reply(tag, 'OK', 'LOGOUT completed');
        return this.close();
      case 'ID':
        for (const [key, value] of command.params ?? []) {
          if (key.toLowerCase() === 'name' && value !== null) this.clientName = value;
          if (key.toLowerCase() === 'version' && value !== null) this.clientVersion = value;
        }
        this.write(encodeIdResponse(this.proxyId()));
        return this.reply(tag, 'OK', 'ID completed');
      case 'STARTTLS':
        return this.startTls(tag);
      case 'LOGIN':
        if (this.cleartextRefused()) return this.reply(tag, 'NO', '[PRIVACYREQUIRED] Cleartext login disabled; use STARTTLS');
        return this.login(tag, { user: command.user, password: command.password, authzid: undefined }, this.dialogue(tag, 'LOGIN'));
      case 'AUTHENTICATE':
        return this.authenticate(tag, command.mechanism, command.initialResponse);
      case 'UNKNOWN':
        this.reply(tag, 'BAD', 'Command not valid before login');
        return this.countBad();
    }
  }

  /** What the proxy says of itself in its ID reply (RFC 2971); its version only when the banner shows it. */
  private proxyId(): { key: string; value: string }[] {
    const id = [{ key: 'name', value: 'Postern' }];
    if (this.deps.settings().zimbraReverseProxyImapExposeVersionOnBanner) id.push({ key: 'version', value: this.deps.version });
    return id;
  }

  /** What this session announces: depends on TLS and the STARTTLS mode (Zimbra's rules). */
  private capabilities(): string[] {
    const s = this.deps.settings();
    const caps = [...s.zimbraReverseProxyImapEnabledCapability];
    if (!caps.some((c) => c.toUpperCase() === 'IMAP4REV1')) caps.unshift('IMAP4rev1');
    const plain = s.zimbraReverseProxyImapSaslPlainEnabled ? ['AUTH=PLAIN'] : [];
    const mode = s.zimbraReverseProxyImapStartTlsMode;
    if (this.tls || mode === 'off' || !this.deps.tls) return [...caps, ...plain];
    if (mode === 'on') return [...caps, ...plain, 'STARTTLS'];
    return [...caps, 'STARTTLS', 'LOGINDISABLED'];
  }

  private cleartextRefused(): boolean {
    return !this.tls && this.deps.settings().zimbraReverseProxyImapStartTlsMode === 'only' && this.deps.tls !== undefined;
  }

  private async startTls(tag: string): Promise<void> {
    if (this.tls || !this.deps.tls || this.deps.settings().zimbraReverseProxyImapStartTlsMode === 'off') {
      this.reply(tag, 'BAD', 'STARTTLS not available');
      return this.countBad();
    }
    await this.upgradeToTls(() => this.reply(tag, 'OK', 'Begin TLS negotiation now'));
  }

  private async authenticate(tag: string, mechanism: string, initialResponse: SecretValue | null): Promise<void> {
    if (mechanism.toUpperCase() !== 'PLAIN' || !this.deps.settings().zimbraReverseProxyImapSaslPlainEnabled) {
      return this.reply(tag, 'NO', '[CANNOT] Unsupported authentication mechanism');
    }
    if (this.cleartextRefused()) return this.reply(tag, 'NO', '[PRIVACYREQUIRED] Authentication disabled before STARTTLS');
    let response = initialResponse;
    if (response === null) {
      this.write('+ \r\n');
      this.queue.push(...this.decoder.expectSaslLine());
      const next = await this.nextInput();
      if (next === undefined) return;
      if (next.kind !== 'sasl-line') {
        this.queue.unshift(next);
        return this.reply(tag, 'BAD', 'Expected a SASL response');
      }
      if (next.response.kind === 'abort') return this.reply(tag, 'BAD', 'AUTHENTICATE aborted');
      if (next.response.kind === 'invalid') return this.reply(tag, 'BAD', 'Invalid SASL response');
      response = next.response.base64;
    }
    const decoded = decodePlain(response);
    if (!decoded) return this.reply(tag, 'BAD', 'Invalid SASL PLAIN response');
    return this.login(tag, { user: decoded.authcid, password: decoded.password, authzid: decoded.authzid || undefined }, this.dialogue(tag, 'AUTHENTICATE'));
  }

  /** The upstream side of a login: greeting, ID with the client's address, credentials with the client's tag. */
  private dialogue(tag: string, verb: 'LOGIN' | 'AUTHENTICATE'): Dialogue<UpstreamEvent> {
    return {
      reader: createUpstreamReader,
      greeting: async (conversation, deadline) => {
        const greeting = await conversation.next(deadline, 'greeting');
        if (greeting.kind !== 'untagged' || greeting.status !== 'OK') throw unavailable(`upstream greeting was not OK: ${greeting.kind === 'untagged' ? greeting.status : greeting.kind}`);
        return parseCapabilities(greeting);
      },
      credentials: (conversation, route, login, greeting, deadline) => this.credentials(conversation, route, login, greeting as Set<string>, deadline, tag, verb),
    };
  }

  /**
   * ID (the client's address), then the credentials with the client's tag. When the login fits in
   * one write (LITERAL+ or SASL-IR, as Dovecot and Zimbra announce) it is pipelined behind ID:
   * one round trip instead of two. Otherwise each synchronizing part waits for the server's `+`.
   */
  private async credentials(conversation: UpstreamConversation<UpstreamEvent>, route: Route, login: LoginRequest, capabilities: Set<string>, deadline: Deadline, tag: string, verb: 'LOGIN' | 'AUTHENTICATE'): Promise<DialogueResult> {
    const parts = this.loginParts(route, login, capabilities, tag, verb);
    const id = this.deps.settings().zimbraReverseProxySendImapId ? encodeIdCommand(tag, this.idParams()) : undefined;
    if (id && parts.length === 1) {
      conversation.write(Buffer.concat([id, Buffer.from(parts[0]!)]));
    } else {
      if (id) {
        conversation.write(id);
        await this.readUntilTagged(conversation, tag, deadline);
      }
      conversation.write(parts[0]!);
      for (const part of parts.slice(1)) {
        const refused = await this.awaitContinuation(conversation, tag, deadline);
        if (refused) return refused;
        conversation.write(part);
      }
    }
    // With ID pipelined, the first tagged reply with this tag is ID's: the login's comes after it.
    if (id && parts.length === 1) await this.readUntilTagged(conversation, tag, deadline);
    const final = await this.readUntilTagged(conversation, tag, deadline);
    return { ok: final.status === 'OK', raw: final.raw, refusal: final.status === 'NO' };
  }

  /** The login command as writes: the first at once, each next one after the server's `+`. */
  private loginParts(route: Route, login: LoginRequest, capabilities: Set<string>, tag: string, verb: 'LOGIN' | 'AUTHENTICATE'): readonly (Uint8Array | string)[] {
    if (verb === 'AUTHENTICATE' || login.authzid !== undefined) {
      // Delegated (authzid set): the client's own identity authenticates, for the account the
      // route found; otherwise the account's upstream name with the client's password.
      const response = login.authzid !== undefined ? encodeSaslResponse(route.upstreamUser, login.user, login.password) : encodeSaslResponse('', route.upstreamUser, login.password);
      return capabilities.has('SASL-IR') ? [encodeAuthenticatePlain(tag, response)] : [encodeAuthenticatePlain(tag, undefined), `${response}\r\n`];
    }
    return encodeLogin(tag, route.upstreamUser, login.password, capabilities.has('LITERAL+'));
  }

  /**
   * Waits for the upstream's `+`: undefined when it came, else the tagged reply that ended the
   * command instead. Untagged responses in between are handled as in {@link readUntilTagged}.
   */
  private async awaitContinuation(conversation: UpstreamConversation<UpstreamEvent>, tag: string, deadline: Deadline): Promise<DialogueResult | undefined> {
    for (;;) {
      const event = await conversation.next(deadline, 'continuation');
      if (event.kind === 'continuation') return undefined;
      if (event.kind === 'tagged' && event.tag === tag) return { ok: false, raw: event.raw, refusal: event.status === 'NO' };
      if (event.kind === 'untagged') this.untagged(event);
    }
  }

  /** An untagged response during the login: alerts are relayed, BYE ends the login, the rest is the proxy's own. */
  private untagged(event: Extract<UpstreamEvent, { kind: 'untagged' }>): void {
    if (event.status === 'BYE') throw unavailable(`upstream said BYE: ${event.text}`);
    // Alerts are relayed (RFC 9051 §7.1: the client must show them); the rest (the ID reply,
    // capabilities, an untagged BAD some servers send to ID) belongs to the proxy's own exchange.
    if (event.code?.toUpperCase() === 'ALERT') this.write(event.raw);
  }

  /** Relays untagged alerts (RFC 9051 §7.1: the client must show them) and returns the tagged reply. */
  private async readUntilTagged(conversation: UpstreamConversation<UpstreamEvent>, tag: string, deadline: Deadline): Promise<Extract<UpstreamEvent, { kind: 'tagged' }>> {
    for (;;) {
      const event = await conversation.next(deadline, 'tagged reply');
      if (event.kind === 'tagged' && event.tag === tag) return event;
      if (event.kind === 'untagged') this.untagged(event);
    }
  }

  private idParams(): [string, string][] {
    const client = this.clientName && this.clientVersion ? `${this.clientName}/${this.clientVersion}` : this.clientName;
    const via = [client, `${this.proxyIp()}(Postern)`].filter(Boolean).join(',');
    const params: [string, string][] = [
      ['X-ORIGINATING-IP', this.clientIp()],
      ['X-ORIGINATING-PORT', String(this.clientPort())],
      ['X-VIA', via],
    ];
    if (this.clientName) params.push(['name', this.clientName]);
    if (this.clientVersion) params.push(['version', this.clientVersion]);
    return params;
  }
}
