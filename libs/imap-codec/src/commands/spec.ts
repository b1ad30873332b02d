/**
 * What every IMAP verb module declares: the states it is allowed in, its TLS policy, which of its
 * arguments are secret, how to parse its arguments and how to print them for a log.
 * The session checks state and TLS once, from this data; it never re-implements them per verb.
 *
 * RFC 9051 §3 (states), §6.1–6.2 (commands in any state / not-authenticated state).
 */
import type { ArgReader } from '../arg-reader';
import type { ImapIdLimits } from '../limits';

/** IMAP connection states (RFC 9051 §3). */
export type ImapState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/**
 * How a verb relates to TLS:
 * - `any`: allowed with or without TLS;
 * - `before-tls`: only on a connection not yet under TLS (STARTTLS);
 * - `cleartext-guarded`: carries credentials; refused on a non-TLS connection when the listener
 *   requires STARTTLS first (Zimbra `starttls only`, RFC 9051 §6.2.3 LOGINDISABLED).
 */
export type ImapTlsPolicy = 'any' | 'before-tls' | 'cleartext-guarded';

/** What argument parsing may depend on. */
export interface ImapParseContext {
  readonly id: ImapIdLimits;
}

/**
 * A verb module. `A` is the command's arguments: everything but `tag` and `name`, which it must not
 * have (parseCommand copies the arguments after those two into the command).
 */
export interface ImapVerbSpec<N extends string, A extends object & { readonly tag?: never; readonly name?: never }> {
  readonly name: N;
  /** States the verb is allowed in; the session answers `BAD` elsewhere. */
  readonly states: readonly ImapState[];
  readonly tls: ImapTlsPolicy;
  /** Names of the argument fields that must never be logged. */
  readonly secretArgs: readonly (keyof A & string)[];
  /** Parses the arguments after `tag SP verb`; throws ImapSyntaxError. */
  parse(reader: ArgReader, context: ImapParseContext): A;
  /** The arguments as loggable words, secrets replaced by `[redacted]`. */
  describe(args: A): string[];
}

/** Helper for verbs without arguments. */
export function noArgumentVerb<N extends string>(name: N, states: readonly ImapState[], tls: ImapTlsPolicy): ImapVerbSpec<N, Record<never, never>> {
  return {
    name,
    states,
    tls,
    secretArgs: [],
    parse: (reader) => {
      reader.end();
      return {};
    },
    describe: () => [],
  };
}

/** Every state: CAPABILITY, NOOP, LOGOUT and ID are valid anywhere (RFC 9051 §6.1, RFC 2971 §3.1). */
export const ANY_STATE: readonly ImapState[] = ['not-authenticated', 'authenticated', 'selected'];

/** A string safe to put in a log line: printable ASCII as is, anything else JSON-quoted. */
export function logWord(value: string): string {
  return /^[\x21-\x7e]+$/.test(value) && !value.includes('"') ? value : JSON.stringify(value);
}
