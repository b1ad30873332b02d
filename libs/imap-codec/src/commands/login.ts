/**
 * LOGIN (RFC 9051 §6.2.3): `LOGIN SP userid SP password`, both astring (atom, quoted with `\"` and
 * `\\` escapes, or literal, including LITERAL+ per RFC 7888). The password is secret. The user name
 * must be UTF-8; the password is kept as bytes so a non-UTF-8 password reaches the upstream intact.
 */
import { utf8Strict, type ArgReader } from '../arg-reader';
import { REDACTED_TEXT, secret, type SecretValue } from '../secret';
import { logWord, type ImapVerbSpec } from './spec';

export interface LoginArgs {
  readonly userid: string;
  readonly password: SecretValue;
}

function parse(r: ArgReader): LoginArgs {
  r.sp();
  const userid = utf8Strict(r.astring());
  r.sp();
  const password = secret(r.astring());
  r.end();
  return { userid, password };
}

export const LOGIN: ImapVerbSpec<'LOGIN', LoginArgs> = {
  name: 'LOGIN',
  states: ['not-authenticated'],
  tls: 'cleartext-guarded',
  secretArgs: ['password'],
  parse,
  describe: ({ userid }) => [logWord(userid), REDACTED_TEXT],
};
