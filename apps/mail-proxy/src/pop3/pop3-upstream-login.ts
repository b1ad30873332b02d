/**
 * The POP3 side of a login toward the mailbox server (RFC 1939, RFC 5034 AUTH): read the
 * greeting, pass on the client's address, log in as the account's upstream name.
 *
 * The client's address goes as `XCLIENT ADDR= PORT=` when the greeting offers `[XCLIENT]`
 * (Dovecot), else as Zimbra's `XOIP` when `zimbraReverseProxySendPop3Xoip` is on. Every line is
 * the codec's encoding: a name or password with a line break in it never becomes a second command.
 */
import { encodeAuth, encodePass, encodeUser, encodeXclient, encodeXoip, Pop3ResponseReader, type Pop3ResponseEvent } from '@postern/pop3-codec';
import type { Deadline } from '@postern/service-kit';
import { upstreamBearerAcknowledgement, upstreamBearerResponse } from '../login/bearer/bearer-sasl';
import { unavailable, upstreamSaslPlain, type UpstreamAnswer, type UpstreamLogin, type UpstreamLoginInput } from '../login/login-flow';
import type { ResponseReader, UpstreamConnection } from '../upstream/upstream-connection';

/** What the upstream sends during a login, unreadable lines left out. */
export type Pop3UpstreamEvent = Exclude<Pop3ResponseEvent, { type: 'error' }>;

export interface Pop3LoginOptions {
  /** USER/PASS, or AUTH PLAIN (also used for a delegated login). */
  readonly sasl: boolean;
  /** Send XOIP when the server offers no XCLIENT. */
  readonly xoip: boolean;
}

/** What the greeting tells: whether the server takes XCLIENT. */
type Greeting = { readonly xclient: boolean };

export function pop3UpstreamLogin(options: Pop3LoginOptions): UpstreamLogin<Pop3UpstreamEvent, Greeting> {
  return {
    createReader: createPop3UpstreamReader,
    async greeting(upstream, deadline) {
      const greeting = await upstream.next(deadline, 'greeting');
      if (greeting.type !== 'ok') throw unavailable(`upstream greeting was not +OK: ${greeting.text}`);
      return { xclient: greeting.code?.split(/\s+/).some((word) => word.toUpperCase() === 'XCLIENT') ?? false };
    },
    credentials: (upstream, login, deadline) => credentials(upstream, login, deadline, options),
  };
}

async function credentials(
  upstream: UpstreamConnection<Pop3UpstreamEvent>,
  login: UpstreamLoginInput<Greeting>,
  deadline: Deadline,
  options: Pop3LoginOptions,
): Promise<UpstreamAnswer> {
  const { route, request, greeting, context } = login;
  if (greeting.xclient) {
    upstream.write(encodeXclient(context.clientIp, context.clientPort));
    await upstream.next(deadline, 'XCLIENT');
  } else if (options.xoip) {
    upstream.write(encodeXoip(context.clientIp));
    // Servers without XOIP answer -ERR; the login goes on either way.
    await upstream.next(deadline, 'XOIP');
  }
  if (options.sasl || request.authzid !== undefined || request.principal !== undefined) {
    const response = request.bearer ? upstreamBearerResponse(request.bearer, { route, request }) : upstreamSaslPlain({ route, request });
    const [first, ...rest] = encodeAuth(request.bearer ?? 'PLAIN', response);
    upstream.write(first!);
    for (const part of rest) {
      // A response too long for one line (RFC 5034 §4) goes on its own after the server's `+`.
      const next = await upstream.next(deadline, 'AUTH');
      if (next.type !== 'continuation') return answer(next);
      upstream.write(part);
    }
    if (request.bearer) {
      const reply = await upstream.next(deadline, 'login');
      if (reply.type !== 'continuation') return answer(reply);
      // A refused token's error challenge (RFC 7628 §3.2.2): acknowledged at once, so that the
      // server ends the exchange with its -ERR; the client gets the challenge later.
      upstream.write(Buffer.from(`${upstreamBearerAcknowledgement(request.bearer)}\r\n`, 'latin1'));
      const final = answer(await upstream.next(deadline, 'login'));
      return final.kind === 'refused' ? { ...final, challenge: reply.text } : final;
    }
  } else {
    upstream.write(encodeUser(route.upstreamUser));
    const user = await upstream.next(deadline, 'USER');
    if (user.type !== 'ok') return answer(user);
    upstream.write(encodePass(request.password));
  }
  return answer(await upstream.next(deadline, 'login'));
}

function answer(event: Pop3UpstreamEvent): UpstreamAnswer {
  return event.type === 'ok' || event.type === 'multiline'
    ? { kind: 'ok', reply: event.raw }
    : { kind: 'refused', reply: event.raw, refusal: event.type === 'err' };
}

/** The codec's reader: a line that is no POP3 reply is skipped; a stopped reader fails the login. */
export function createPop3UpstreamReader(): ResponseReader<Pop3UpstreamEvent> {
  const reader = new Pop3ResponseReader();
  return {
    push(chunk) {
      reader.push(chunk);
      const events: Pop3UpstreamEvent[] = [];
      for (let event = reader.next(); event; event = reader.next()) {
        if (event.type !== 'error') events.push(event);
        else if (event.fatal) throw new Error(`upstream reply: ${event.reason}`);
      }
      return events;
    },
    drainBuffered: () => reader.drainBuffered(),
  };
}
