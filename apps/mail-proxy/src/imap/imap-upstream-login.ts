/**
 * The IMAP side of a login toward the mailbox server (RFC 9051; RFC 2971 ID; RFC 4959 SASL-IR;
 * RFC 7888 LITERAL+): read the greeting and its capabilities, send ID with the client's address,
 * log in as the account's upstream name, relay `[ALERT]`s.
 *
 * The proxy's own tags go upstream, never the client's: a tag the proxy accepts but the server
 * would not (`a]`, a long one) must not turn good credentials into a failure. The final reply goes
 * back to the client under the client's tag.
 */
import {
  encodeCommand,
  encodeIdCommand,
  encodeLoginCommand,
  ImapResponseReader,
  parseCapabilities,
  type ImapIdParam,
  type ImapResponseEvent,
} from '@postern/imap-codec';
import { encodeSaslResponseLine } from '@postern/sasl';
import type { Deadline } from '@postern/service-kit';
import { upstreamBearerAcknowledgement, upstreamBearerResponse } from '../login/bearer/bearer-sasl';
import { Limits } from '../server/limits';
import { unavailable, upstreamSaslPlain, type UpstreamAnswer, type UpstreamLogin, type UpstreamLoginInput } from '../login/login-flow';
import type { ResponseReader, UpstreamConnection } from '../upstream/upstream-connection';

/** What the upstream sends during a login, unreadable lines left out. */
export type ImapUpstreamEvent = Exclude<ImapResponseEvent, { type: 'error' }>;

/** The proxy's tags upstream: fixed, since each login has a connection of its own. */
export const UPSTREAM_ID_TAG = 'p1';
export const UPSTREAM_LOGIN_TAG = 'p2';

export interface ImapLoginOptions {
  /** The client's tag: the final reply is re-tagged with it. */
  readonly clientTag: string;
  /** LOGIN, or AUTHENTICATE PLAIN (also used for a delegated login). */
  readonly verb: 'LOGIN' | 'AUTHENTICATE';
  /** ID parameters (client address, X-VIA, the client's name and version); none when ID is not sent. */
  readonly id: readonly ImapIdParam[] | undefined;
}

type Tagged = Extract<ImapUpstreamEvent, { type: 'tagged' }>;

export function imapUpstreamLogin(options: ImapLoginOptions): UpstreamLogin<ImapUpstreamEvent, Set<string>> {
  return {
    createReader: createImapUpstreamReader,
    async greeting(upstream, deadline) {
      const greeting = await upstream.next(deadline, 'greeting');
      if (greeting.type !== 'untagged' || greeting.status !== 'OK')
        throw unavailable(`upstream greeting was not OK: ${greeting.type === 'untagged' ? greeting.status : greeting.type}`);
      return greeting.code?.name === 'CAPABILITY' ? new Set(parseCapabilities(greeting.code.text)) : new Set<string>();
    },
    credentials: (upstream, login, deadline) => credentials(upstream, login, deadline, options),
  };
}

/**
 * ID, then the credentials. When the login fits in one write (LITERAL+ or SASL-IR, as Dovecot and
 * Zimbra announce) it is pipelined behind ID: one round trip instead of two. Otherwise each
 * synchronizing part waits for the server's `+`.
 */
async function credentials(
  upstream: UpstreamConnection<ImapUpstreamEvent>,
  login: UpstreamLoginInput<Set<string>>,
  deadline: Deadline,
  options: ImapLoginOptions,
): Promise<UpstreamAnswer> {
  const relay = login.context.relay;
  const parts = loginParts(login, options.verb);
  const id = options.id ? encodeIdCommand(UPSTREAM_ID_TAG, options.id, { literalPlus: false })[0]! : undefined;
  if (id && parts.length === 1) {
    upstream.write(Buffer.concat([id, parts[0]!]));
    const idReply = await nextTagged(upstream, UPSTREAM_ID_TAG, deadline, relay);
    if (!isTagged(idReply)) return idReply;
  } else {
    if (id) {
      upstream.write(id);
      const idReply = await nextTagged(upstream, UPSTREAM_ID_TAG, deadline, relay);
      if (!isTagged(idReply)) return idReply;
    }
    upstream.write(parts[0]!);
    for (const part of parts.slice(1)) {
      const stop = await continuation(upstream, deadline, relay, options.clientTag);
      if (stop) return stop;
      upstream.write(part);
    }
  }
  // A bearer login's refusal starts with an error challenge (RFC 7628 §3.2.2): acknowledged at
  // once, so that the server ends the exchange with its NO; the client gets the challenge later.
  let challenge: string | undefined;
  const bearer = login.request.bearer;
  const acknowledge = bearer
    ? (text: string) => {
        challenge = text;
        upstream.write(encodeSaslResponseLine(upstreamBearerAcknowledgement(bearer)));
      }
    : undefined;
  const final = await nextTagged(upstream, UPSTREAM_LOGIN_TAG, deadline, relay, acknowledge);
  if (!isTagged(final)) return final;
  const reply = retag(final, options.clientTag);
  if (final.status === 'OK') return { kind: 'ok', reply };
  return { kind: 'refused', reply, refusal: final.status === 'NO', ...(challenge !== undefined ? { challenge } : {}) };
}

/** The login command as writes: the first at once, each next one after the server's `+`. */
function loginParts({ route, request, greeting: capabilities }: UpstreamLoginInput<Set<string>>, verb: 'LOGIN' | 'AUTHENTICATE'): readonly Uint8Array[] {
  if (verb === 'AUTHENTICATE' || request.authzid !== undefined || request.principal !== undefined) {
    const response = request.bearer ? upstreamBearerResponse(request.bearer, { route, request }) : upstreamSaslPlain({ route, request });
    const plain = { atom: request.bearer ?? 'PLAIN' };
    return capabilities.has('SASL-IR')
      ? [encodeCommand(UPSTREAM_LOGIN_TAG, 'AUTHENTICATE', [plain, { atom: response }], { literalPlus: false })[0]!]
      : [encodeCommand(UPSTREAM_LOGIN_TAG, 'AUTHENTICATE', [plain], { literalPlus: false })[0]!, encodeSaslResponseLine(response)];
  }
  return encodeLoginCommand(UPSTREAM_LOGIN_TAG, route.upstreamUser, request.password.bytes(), { literalPlus: capabilities.has('LITERAL+') });
}

/**
 * The tagged reply to `tag`, or how the login ended before it (a BYE). Untagged responses are
 * handled on the way, and a SASL challenge by `challenge` when given.
 */
async function nextTagged(
  upstream: UpstreamConnection<ImapUpstreamEvent>,
  tag: string,
  deadline: Deadline,
  relay: (bytes: Uint8Array) => void,
  challenge?: (text: string) => void,
): Promise<Tagged | UpstreamAnswer> {
  for (;;) {
    const event = await upstream.next(deadline, 'tagged reply');
    if (event.type === 'tagged' && event.tag === tag) return event;
    if (event.type === 'continuation' && challenge) {
      challenge(event.text);
      continue;
    }
    const bye = untagged(event, relay);
    if (bye) return bye;
  }
}

/** Waits for the upstream's `+`: undefined when it came, else how the command ended instead. */
async function continuation(
  upstream: UpstreamConnection<ImapUpstreamEvent>,
  deadline: Deadline,
  relay: (bytes: Uint8Array) => void,
  clientTag: string,
): Promise<UpstreamAnswer | undefined> {
  for (;;) {
    const event = await upstream.next(deadline, 'continuation');
    if (event.type === 'continuation') return undefined;
    if (event.type === 'tagged' && event.tag === UPSTREAM_LOGIN_TAG) return { kind: 'refused', reply: retag(event, clientTag), refusal: event.status === 'NO' };
    const bye = untagged(event, relay);
    if (bye) return bye;
  }
}

/**
 * An untagged response during the login: a BYE ends it (relayed as it is), alerts are relayed
 * (RFC 9051 §7.1: the client must show them), the rest (the ID reply, capabilities, an untagged
 * BAD some servers send to ID) belongs to the proxy's own exchange.
 */
function untagged(event: ImapUpstreamEvent, relay: (bytes: Uint8Array) => void): UpstreamAnswer | undefined {
  if (event.type !== 'untagged') return undefined;
  if (event.status === 'BYE') return { kind: 'bye', reply: event.raw };
  if (event.code?.name === 'ALERT') relay(event.raw);
  return undefined;
}

function isTagged(value: Tagged | UpstreamAnswer): value is Tagged {
  return 'type' in value;
}

/** The upstream's tagged line under the client's tag: `p2 OK [CAPABILITY …] Logged in` → `a1 OK …`. */
function retag(event: Tagged, clientTag: string): Uint8Array {
  return Buffer.concat([Buffer.from(clientTag, 'latin1'), event.raw.subarray(event.tag.length)]);
}

/** The codec's reader: a line that is no IMAP response is skipped; a stopped reader fails the login. */
export function createImapUpstreamReader(): ResponseReader<ImapUpstreamEvent> {
  const reader = new ImapResponseReader({ maxLineBytes: Limits.upstreamLineBytes });
  return {
    push(chunk) {
      const events: ImapUpstreamEvent[] = [];
      for (const event of reader.push(chunk)) {
        if (event.type !== 'error') events.push(event);
        else if (event.fatal) throw new Error(`upstream response: ${event.reason}`);
      }
      return events;
    },
    drainBuffered: () => reader.drainBuffered(),
  };
}
