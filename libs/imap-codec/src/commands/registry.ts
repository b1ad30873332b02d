/**
 * The table of IMAP verbs the proxy understands before login. A verb not in it parses as UNKNOWN.
 */
import { AUTHENTICATE, type AuthenticateArgs } from './authenticate';
import { CAPABILITY } from './capability';
import { ID, type IdArgs } from './id';
import { LOGIN, type LoginArgs } from './login';
import { LOGOUT } from './logout';
import { NOOP } from './noop';
import type { ImapState, ImapTlsPolicy, ImapVerbSpec } from './spec';
import { STARTTLS } from './starttls';

/** A parsed IMAP command. */
export type ImapCommand =
  | { readonly tag: string; readonly name: 'CAPABILITY' }
  | { readonly tag: string; readonly name: 'NOOP' }
  | { readonly tag: string; readonly name: 'LOGOUT' }
  | { readonly tag: string; readonly name: 'STARTTLS' }
  | ({ readonly tag: string; readonly name: 'ID' } & IdArgs)
  | ({ readonly tag: string; readonly name: 'LOGIN' } & LoginArgs)
  | ({ readonly tag: string; readonly name: 'AUTHENTICATE' } & AuthenticateArgs)
  /** Any other verb (upper-cased); arguments are not parsed. The session answers `BAD`. */
  | { readonly tag: string; readonly name: 'UNKNOWN'; readonly verb: string };

/** Names of the verbs in the table. */
export type ImapVerbName = Exclude<ImapCommand['name'], 'UNKNOWN'>;

/** The public face of a verb module: its policy data, without the parser. */
export interface ImapCommandInfo {
  readonly name: ImapVerbName;
  readonly states: readonly ImapState[];
  readonly tls: ImapTlsPolicy;
  readonly secretArgs: readonly string[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous table; each entry is typed in its module
type AnyVerb = ImapVerbSpec<ImapVerbName, any>;

/** Verb modules by upper-case name. */
export const IMAP_VERBS: Readonly<Record<ImapVerbName, AnyVerb>> = {
  CAPABILITY,
  NOOP,
  LOGOUT,
  STARTTLS,
  ID,
  LOGIN,
  AUTHENTICATE,
};

/** Policy data of a verb (states, TLS, secret arguments), or undefined for UNKNOWN. */
export function imapCommandInfo(name: string): ImapCommandInfo | undefined {
  const spec = (IMAP_VERBS as Record<string, AnyVerb | undefined>)[name];
  return spec && { name: spec.name, states: spec.states, tls: spec.tls, secretArgs: spec.secretArgs };
}
