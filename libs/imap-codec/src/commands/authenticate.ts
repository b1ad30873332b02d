/**
 * AUTHENTICATE (RFC 9051 §6.2.2; RFC 4959 SASL-IR): `AUTHENTICATE SP auth-type [SP (base64 / "=")]`.
 * The initial response is secret and kept as its base64 text; `=` is an empty initial response
 * (RFC 4959 §3), absent is null (the session then sends `+ ` and calls `expectRawLine()`).
 */
import { BASE64 } from '@postern/sasl';
import { ImapSyntaxError, type ArgReader } from '../arg-reader';
import { REDACTED_TEXT, secret, type SecretValue } from '../secret';
import type { ImapVerbSpec } from './spec';

export interface AuthenticateArgs {
  /** Upper-cased mechanism name, e.g. `PLAIN`. */
  readonly mechanism: string;
  /** The base64 initial response; empty for `=`; null when absent. */
  readonly initialResponse: SecretValue | null;
}

function parse(r: ArgReader): AuthenticateArgs {
  r.sp();
  const mechanism = r.atom().toUpperCase();
  if (!r.trySp()) return { mechanism, initialResponse: null };
  const ir = r.atom();
  r.end();
  if (ir === '=') return { mechanism, initialResponse: secret('') };
  if (!BASE64.test(ir)) throw new ImapSyntaxError('bad-initial-response', 'initial response is not base64');
  return { mechanism, initialResponse: secret(ir) };
}

export const AUTHENTICATE: ImapVerbSpec<'AUTHENTICATE', AuthenticateArgs> = {
  name: 'AUTHENTICATE',
  states: ['not-authenticated'],
  tls: 'cleartext-guarded',
  secretArgs: ['initialResponse'],
  parse,
  describe: ({ mechanism, initialResponse }) => (initialResponse === null ? [mechanism] : [mechanism, REDACTED_TEXT]),
};
