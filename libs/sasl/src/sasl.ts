/**
 * SASL helpers shared by IMAP AUTHENTICATE and POP3 AUTH: the PLAIN message (RFC 4616 §2) and client
 * continuation lines (RFC 9051 §6.2.2, RFC 5034 §4: base64, or `*` to abort).
 */
import { secret, type SecretValue } from '@postern/contracts';

/** base64 per RFC 4648 §4 with padding, as RFC 9051 §9 and RFC 5034 §4 require. */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bounds on a decoded SASL PLAIN message (RFC 4616 §2). */
export interface SaslPlainLimits {
  /** Zimbra's login limit (ngx_mail.h: 256 bytes); RFC 4616 requires accepting at least 255. */
  readonly maxAuthzidBytes: number;
  /** Same limit as the authorization identity: both are account names. */
  readonly maxAuthcidBytes: number;
  /** Zimbra's password limit (ngx_mail.h: 1024 bytes). */
  readonly maxPasswordBytes: number;
}

export const SASL_PLAIN_DEFAULTS: SaslPlainLimits = { maxAuthzidBytes: 256, maxAuthcidBytes: 256, maxPasswordBytes: 1024 };

/** A decoded PLAIN message: `[authzid] NUL authcid NUL passwd`. */
export interface SaslPlainCredentials {
  /** Authorization identity; empty when absent (then it is the authcid). */
  readonly authzid: string;
  readonly authcid: string;
  readonly password: SecretValue;
}

/** Why a PLAIN message was refused. */
export type SaslPlainError = 'invalid-base64' | 'malformed' | 'empty-authcid' | 'empty-password' | 'too-long' | 'invalid-utf8';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a base64 PLAIN response. Strict base64 (padding required, no whitespace); exactly two NULs;
 * non-empty authcid and password (RFC 4616 §2: `1*SAFE`); identities must be UTF-8; the password
 * is kept as bytes.
 */
export function decodeSaslPlain(
  base64: string | SecretValue,
  limits: Partial<SaslPlainLimits> = {},
): { ok: true; credentials: SaslPlainCredentials } | { ok: false; reason: SaslPlainError } {
  const l = { ...SASL_PLAIN_DEFAULTS, ...limits };
  const text = typeof base64 === 'string' ? base64 : base64.reveal();
  // Checked before decoding so an oversized response costs no allocation.
  const maxEncoded = Math.ceil((l.maxAuthzidBytes + l.maxAuthcidBytes + l.maxPasswordBytes + 2) / 3) * 4;
  if (text.length > maxEncoded) return { ok: false, reason: 'too-long' };
  if (!BASE64.test(text)) return { ok: false, reason: 'invalid-base64' };
  const bytes = Buffer.from(text, 'base64');
  const nul1 = bytes.indexOf(0);
  const nul2 = nul1 < 0 ? -1 : bytes.indexOf(0, nul1 + 1);
  if (nul2 < 0 || bytes.indexOf(0, nul2 + 1) >= 0) return { ok: false, reason: 'malformed' };
  const authzid = bytes.subarray(0, nul1);
  const authcid = bytes.subarray(nul1 + 1, nul2);
  const password = bytes.subarray(nul2 + 1);
  if (authcid.length === 0) return { ok: false, reason: 'empty-authcid' };
  if (password.length === 0) return { ok: false, reason: 'empty-password' };
  if (authzid.length > l.maxAuthzidBytes || authcid.length > l.maxAuthcidBytes || password.length > l.maxPasswordBytes) {
    return { ok: false, reason: 'too-long' };
  }
  try {
    return { ok: true, credentials: { authzid: strictUtf8.decode(authzid), authcid: strictUtf8.decode(authcid), password: secret(password) } };
  } catch {
    return { ok: false, reason: 'invalid-utf8' };
  }
}

/** Encodes a PLAIN message as base64 (for the upstream login). */
export function encodeSaslPlain(credentials: { authzid?: string; authcid: string; password: string | Uint8Array | SecretValue }): string {
  const pw = credentials.password;
  const password = typeof pw === 'string' ? Buffer.from(pw, 'utf8') : pw instanceof Uint8Array ? pw : pw.bytes();
  return Buffer.concat([
    Buffer.from(credentials.authzid ?? '', 'utf8'),
    Buffer.from([0]),
    Buffer.from(credentials.authcid, 'utf8'),
    Buffer.from([0]),
    password,
  ]).toString('base64');
}

/** A SASL response on its own line (after the server's `+`): the base64 text and CRLF. */
export function encodeSaslResponseLine(base64: string): Uint8Array {
  if (!BASE64.test(base64)) throw new TypeError('SASL response is not base64');
  return Buffer.from(`${base64}\r\n`, 'latin1');
}

/** A client's answer to a SASL challenge. */
export type SaslResponseLine = { readonly kind: 'abort' } | { readonly kind: 'response'; readonly base64: SecretValue } | { readonly kind: 'invalid' };

/** Classifies a continuation line: `*` aborts (RFC 9051 §6.2.2), base64 answers, anything else is invalid. */
export function parseSaslResponseLine(line: Uint8Array | string): SaslResponseLine {
  const text = typeof line === 'string' ? line : Buffer.from(line).toString('latin1');
  if (text === '*') return { kind: 'abort' };
  if (text.length > 0 && BASE64.test(text)) return { kind: 'response', base64: secret(text) };
  // An empty line is an empty response (RFC 9051 §6.2.2 allows an empty base64 string).
  if (text.length === 0) return { kind: 'response', base64: secret('') };
  return { kind: 'invalid' };
}
