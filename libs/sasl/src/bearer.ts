/**
 * OAuth 2.0 bearer-token SASL messages: OAUTHBEARER (RFC 7628 §3.1: a GS2 header, then
 * `key=value` pairs each ended by %x01, the token in `auth=Bearer <token>`) and Google's and
 * Microsoft's XOAUTH2 (`user=<name>` %x01 `auth=Bearer <token>` %x01 %x01), and the error
 * challenge each sends when a token is refused (RFC 7628 §3.2.2). Pure: no sockets, no timers.
 */
import { secret, type SecretValue } from '@postern/contracts';
import { BASE64 } from './sasl';

/** The bearer-token mechanisms. */
export type BearerMechanism = 'OAUTHBEARER' | 'XOAUTH2';

/** Bounds on a decoded bearer message. */
export interface BearerLimits {
  /** The user named in it: an account name, as for PLAIN (Zimbra's login limit, 256 bytes). */
  readonly maxUserBytes: number;
  /** The token: providers' JWT access tokens are 1–4 KiB; 8 KiB leaves room and bounds the work. */
  readonly maxTokenBytes: number;
}

export const BEARER_DEFAULTS: BearerLimits = { maxUserBytes: 256, maxTokenBytes: 8 * 1024 };

/** A decoded bearer message. */
export interface BearerCredentials {
  readonly mechanism: BearerMechanism;
  /** The user the client claims: OAUTHBEARER's `a=` (GS2 authzid), XOAUTH2's `user=`. */
  readonly user: string;
  readonly token: SecretValue;
}

/** Why a bearer message was refused. */
export type BearerError = 'invalid-base64' | 'malformed' | 'channel-binding' | 'no-user' | 'no-token' | 'too-long' | 'invalid-utf8';

type Decoded = { ok: true; credentials: BearerCredentials } | { ok: false; reason: BearerError };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 7628 §3.1: `key = 1*(ALPHA)`; values are VCHAR, SP, HTAB, CR, LF. */
const KVPAIR = /^([A-Za-z]+)=([\x21-\x7e \t\r\n]*)$/;

/** Decodes an OAUTHBEARER client response (RFC 7628 §3.1). The user is required: it routes the login. */
export function decodeOAuthBearer(base64: string | SecretValue, limits: Partial<BearerLimits> = {}): Decoded {
  const text = decodeBase64(base64, limits);
  if (typeof text !== 'string') return text;
  // gs2-header: cbind flag, `,`, optional `a=authzid`, `,`; then kvsep.
  const header = /^([ny]),(?:a=([^,]*))?,\x01/.exec(text);
  if (!header) return { ok: false, reason: text.startsWith('p=') ? 'channel-binding' : 'malformed' };
  const saslname = header[2];
  if (saslname === undefined || saslname === '') return { ok: false, reason: 'no-user' };
  // saslname (RFC 5801 §4): `,` and `=` travel as `=2C` and `=3D`; any other `=` is malformed.
  if (/=(?!2C|3D)/.test(saslname)) return { ok: false, reason: 'malformed' };
  const user = saslname.replace(/=2C/g, ',').replace(/=3D/g, '=');
  const pairs = keyValues(text.slice(header[0].length));
  if (pairs === undefined) return { ok: false, reason: 'malformed' };
  return withToken('OAUTHBEARER', user, pairs.get('auth'), limits);
}

/** Decodes an XOAUTH2 client response: `user=` %x01 `auth=Bearer <token>` %x01 %x01. */
export function decodeXOAuth2(base64: string | SecretValue, limits: Partial<BearerLimits> = {}): Decoded {
  const text = decodeBase64(base64, limits);
  if (typeof text !== 'string') return text;
  const pairs = keyValues(text);
  if (pairs === undefined) return { ok: false, reason: 'malformed' };
  const user = pairs.get('user');
  if (user === undefined || user === '') return { ok: false, reason: 'no-user' };
  return withToken('XOAUTH2', user, pairs.get('auth'), limits);
}

/** The OAUTHBEARER client response for the upstream: `n,a=<user>,` %x01 `auth=Bearer <token>` %x01 %x01, base64. */
export function encodeOAuthBearer({ user, token }: { user: string; token: SecretValue }): string {
  const saslname = user.replace(/=/g, '=3D').replace(/,/g, '=2C');
  return encode(`n,a=${saslname},\x01auth=Bearer `, token);
}

/** The XOAUTH2 client response for the upstream: `user=<user>` %x01 `auth=Bearer <token>` %x01 %x01, base64. */
export function encodeXOAuth2({ user, token }: { user: string; token: SecretValue }): string {
  if (/[\x00-\x1f]/.test(user)) throw new TypeError('a user name with control characters');
  return encode(`user=${user}\x01auth=Bearer `, token);
}

/**
 * What a client answers to an error challenge (RFC 7628 §3.2.3: a single %x01 for OAUTHBEARER;
 * XOAUTH2 clients send an empty response), base64.
 */
export function bearerErrorAcknowledgement(mechanism: BearerMechanism): string {
  return mechanism === 'OAUTHBEARER' ? 'AQ==' : '';
}

/**
 * The proxy's own error challenge, base64, when it refuses a token itself or the mailbox server's
 * is not relayed: RFC 7628 §3.2.2's `invalid_token` status for OAUTHBEARER, the HTTP status
 * Google's XOAUTH2 sends for XOAUTH2.
 */
export function bearerErrorChallenge(mechanism: BearerMechanism): string {
  const body = mechanism === 'OAUTHBEARER' ? { status: 'invalid_token', schemes: 'bearer' } : { status: '401', schemes: 'bearer' };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64');
}

function decodeBase64(base64: string | SecretValue, limits: Partial<BearerLimits>): string | { ok: false; reason: BearerError } {
  const l = { ...BEARER_DEFAULTS, ...limits };
  const text = typeof base64 === 'string' ? base64 : base64.reveal();
  // The user, the token and the framing (`n,a=,` `auth=Bearer ` and the separators, host and port).
  const maxEncoded = Math.ceil((l.maxUserBytes + l.maxTokenBytes + 512) / 3) * 4;
  if (text.length > maxEncoded) return { ok: false, reason: 'too-long' };
  if (text.length === 0 || !BASE64.test(text)) return { ok: false, reason: text.length === 0 ? 'malformed' : 'invalid-base64' };
  try {
    return strictUtf8.decode(Buffer.from(text, 'base64'));
  } catch {
    return { ok: false, reason: 'invalid-utf8' };
  }
}

/** `key=value` %x01 … %x01: the pairs, or undefined when the framing is wrong or a key repeats. */
function keyValues(text: string): Map<string, string> | undefined {
  if (!text.endsWith('\x01\x01')) return undefined;
  const pairs = new Map<string, string>();
  for (const pair of text.slice(0, -2).split('\x01')) {
    const match = KVPAIR.exec(pair);
    if (!match || pairs.has(match[1]!.toLowerCase())) return undefined;
    pairs.set(match[1]!.toLowerCase(), match[2]!);
  }
  return pairs;
}

function withToken(mechanism: BearerMechanism, user: string, auth: string | undefined, limits: Partial<BearerLimits>): Decoded {
  const l = { ...BEARER_DEFAULTS, ...limits };
  if (Buffer.byteLength(user) > l.maxUserBytes) return { ok: false, reason: 'too-long' };
  if (/[\x00-\x1f\x7f]/.test(user)) return { ok: false, reason: 'malformed' };
  // RFC 6750 §2.1: `Bearer` (case-insensitive) SP b64token.
  const match = auth === undefined ? null : /^bearer (.+)$/i.exec(auth);
  if (!match) return { ok: false, reason: 'no-token' };
  const token = match[1]!;
  if (!B64TOKEN.test(token)) return { ok: false, reason: 'malformed' };
  if (token.length > l.maxTokenBytes) return { ok: false, reason: 'too-long' };
  return { ok: true, credentials: { mechanism, user, token: secret(token) } };
}

function encode(prefix: string, token: SecretValue): string {
  return Buffer.concat([Buffer.from(prefix, 'utf8'), token.bytes(), Buffer.from('\x01\x01', 'latin1')]).toString('base64');
}
