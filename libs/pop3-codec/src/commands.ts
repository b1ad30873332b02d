/**
 * POP3 verbs as data: per verb, the states it is allowed in, its TLS policy, its secret arguments
 * and its argument parser. The session checks state and TLS once, from this table.
 *
 * RFC 1939 §3–§7 (states, USER, PASS, APOP, NOOP, QUIT), RFC 2449 §5 (CAPA), RFC 2595 §4 (STLS),
 * RFC 5034 §4 (AUTH, initial response, `=` for empty).
 */
import { BASE64 } from '@postern/sasl';
import { REDACTED_TEXT, secret, type SecretValue } from './secret';

/** POP3 session states (RFC 1939 §3). */
export type Pop3State = 'authorization' | 'transaction' | 'update';

/** See the IMAP codec: `cleartext-guarded` verbs carry credentials and are refused before STLS when required. */
export type Pop3TlsPolicy = 'any' | 'before-tls' | 'cleartext-guarded';

/** A parsed POP3 command. */
export type Pop3Command =
  | { readonly name: 'CAPA' }
  | { readonly name: 'STLS' }
  | { readonly name: 'NOOP' }
  | { readonly name: 'QUIT' }
  | { readonly name: 'USER'; readonly user: string }
  /** Everything after `PASS ` (spaces included). Valid only right after USER: the session checks. */
  | { readonly name: 'PASS'; readonly password: SecretValue }
  /** `AUTH` alone (mechanism null) asks for the mechanism list (pre-RFC 5034 clients). */
  | { readonly name: 'AUTH'; readonly mechanism: string | null; readonly initialResponse: SecretValue | null }
  /** Parsed so the session can refuse it with a proper `-ERR`. */
  | { readonly name: 'APOP'; readonly user: string; readonly digest: SecretValue }
  | { readonly name: 'UNKNOWN'; readonly keyword: string };

export type Pop3VerbName = Exclude<Pop3Command['name'], 'UNKNOWN'>;

/** Why a line did not parse. */
export type Pop3ParseErrorReason = 'bad-keyword' | 'bad-characters' | 'missing-arguments' | 'unexpected-arguments' | 'invalid-utf8' | 'bad-initial-response';

/** Thrown by argument parsers; `parsePop3Command` returns it as `{ ok: false }`. */
export class Pop3SyntaxError extends Error {
  override readonly name = 'Pop3SyntaxError';
  constructor(readonly reason: Pop3ParseErrorReason) {
    super(reason);
  }
}

/** A verb module. `args` is the text after `KEYWORD ` (null when there is none). */
export interface Pop3VerbSpec {
  readonly name: Pop3VerbName;
  readonly states: readonly Pop3State[];
  readonly tls: Pop3TlsPolicy;
  readonly secretArgs: readonly string[];
  parse(args: Uint8Array | null): Pop3Command;
  /** Loggable arguments, secrets replaced. */
  describe(command: Pop3Command): string[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function words(args: Uint8Array | null): string[] {
  if (args === null) return [];
  const text = Buffer.from(args).toString('latin1');
  const parts = text.split(' ');
  // RFC 1939 §3: arguments are separated by a single SPACE; empty words mean doubled spaces.
  if (parts.some((p) => p.length === 0)) throw new Pop3SyntaxError('unexpected-arguments');
  return parts;
}

function utf8(latin1: string): string {
  try {
    return strictUtf8.decode(Buffer.from(latin1, 'latin1'));
  } catch {
    throw new Pop3SyntaxError('invalid-utf8');
  }
}

function noArgs(name: 'CAPA' | 'STLS' | 'NOOP' | 'QUIT', states: readonly Pop3State[], tls: Pop3TlsPolicy): Pop3VerbSpec {
  return {
    name,
    states,
    tls,
    secretArgs: [],
    parse: (args) => {
      if (args !== null) throw new Pop3SyntaxError('unexpected-arguments');
      return { name };
    },
    describe: () => [],
  };
}

const ALL: readonly Pop3State[] = ['authorization', 'transaction'];

/** The verbs the proxy understands before login, by upper-case keyword. */
export const POP3_VERBS: Readonly<Record<Pop3VerbName, Pop3VerbSpec>> = {
  CAPA: noArgs('CAPA', ALL, 'any'),
  STLS: noArgs('STLS', ['authorization'], 'before-tls'),
  // RFC 1939 lists NOOP under TRANSACTION; Zimbra (and most servers) answer it before login too.
  NOOP: noArgs('NOOP', ALL, 'any'),
  QUIT: noArgs('QUIT', ALL, 'any'),
  USER: {
    name: 'USER',
    states: ['authorization'],
    tls: 'cleartext-guarded',
    secretArgs: [],
    parse: (args) => {
      const [user, ...extra] = words(args);
      if (user === undefined) throw new Pop3SyntaxError('missing-arguments');
      if (extra.length > 0) throw new Pop3SyntaxError('unexpected-arguments');
      return { name: 'USER', user: utf8(user) };
    },
    describe: (c) => (c.name === 'USER' ? [logWord(c.user)] : []),
  },
  PASS: {
    name: 'PASS',
    states: ['authorization'],
    tls: 'cleartext-guarded',
    secretArgs: ['password'],
    parse: (args) => {
      if (args === null || args.length === 0) throw new Pop3SyntaxError('missing-arguments');
      return { name: 'PASS', password: secret(args) };
    },
    describe: () => [REDACTED_TEXT],
  },
  AUTH: {
    name: 'AUTH',
    states: ['authorization'],
    tls: 'cleartext-guarded',
    secretArgs: ['initialResponse'],
    parse: (args) => {
      const [mechanism, ir, ...extra] = words(args);
      if (extra.length > 0) throw new Pop3SyntaxError('unexpected-arguments');
      if (mechanism === undefined) return { name: 'AUTH', mechanism: null, initialResponse: null };
      if (!/^[A-Za-z0-9_-]{1,20}$/.test(mechanism)) throw new Pop3SyntaxError('bad-keyword');
      if (ir === undefined) return { name: 'AUTH', mechanism: mechanism.toUpperCase(), initialResponse: null };
      if (ir !== '=' && !BASE64.test(ir)) throw new Pop3SyntaxError('bad-initial-response');
      return { name: 'AUTH', mechanism: mechanism.toUpperCase(), initialResponse: secret(ir === '=' ? '' : ir) };
    },
    describe: (c) => (c.name === 'AUTH' ? [...(c.mechanism ? [c.mechanism] : []), ...(c.initialResponse ? [REDACTED_TEXT] : [])] : []),
  },
  APOP: {
    name: 'APOP',
    states: ['authorization'],
    tls: 'cleartext-guarded',
    secretArgs: ['digest'],
    parse: (args) => {
      const [user, digest, ...extra] = words(args);
      if (user === undefined || digest === undefined) throw new Pop3SyntaxError('missing-arguments');
      if (extra.length > 0) throw new Pop3SyntaxError('unexpected-arguments');
      return { name: 'APOP', user: utf8(user), digest: secret(digest) };
    },
    describe: (c) => (c.name === 'APOP' ? [logWord(c.user), REDACTED_TEXT] : []),
  },
};

/** Policy data of a verb, or undefined for UNKNOWN. */
export function pop3CommandInfo(name: string): Pick<Pop3VerbSpec, 'name' | 'states' | 'tls' | 'secretArgs'> | undefined {
  const spec = (POP3_VERBS as Record<string, Pop3VerbSpec | undefined>)[name];
  return spec && { name: spec.name, states: spec.states, tls: spec.tls, secretArgs: spec.secretArgs };
}

/** A string safe for a log line: printable ASCII as is, anything else JSON-quoted. */
export function logWord(value: string): string {
  return /^[\x21-\x7e]+$/.test(value) && !value.includes('"') ? value : JSON.stringify(value);
}
