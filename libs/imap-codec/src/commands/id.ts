/**
 * ID (RFC 2971 §3.1, §4): `ID SP ( "(" string SP nstring *(SP string SP nstring) ")" / NIL )`.
 * Bounds of §3.3 (30 pairs, 30-octet keys, 1024-octet values) are enforced: over them is `BAD`.
 * An empty list `()` is accepted (some clients send it) and means no parameters.
 */
import { ImapSyntaxError, type ArgReader } from '../arg-reader';
import { ANY_STATE, logWord, type ImapParseContext, type ImapVerbSpec } from './spec';

/** One ID field/value pair; a NIL value is null. Keys are case-insensitive (compare lower-cased). */
export interface ImapIdParam {
  readonly key: string;
  readonly value: string | null;
}

export interface IdArgs {
  /** The parameters, in order; null for `ID NIL`. */
  readonly params: readonly ImapIdParam[] | null;
}

const utf8 = new TextDecoder('utf-8');

function parse(r: ArgReader, { id: limits }: ImapParseContext): IdArgs {
  r.sp();
  if (!r.tryByte(0x28)) {
    if (r.atom().toUpperCase() !== 'NIL') throw new ImapSyntaxError('syntax', 'expected a list or NIL');
    r.end();
    return { params: null };
  }
  const params: ImapIdParam[] = [];
  if (!r.tryByte(0x29)) {
    for (;;) {
      const key = r.string();
      r.sp();
      const value = r.nstring();
      if (params.length >= limits.maxPairs) throw new ImapSyntaxError('id-too-large', 'too many ID parameters');
      if (key.length > limits.maxKeyBytes) throw new ImapSyntaxError('id-too-large', 'ID field name too long');
      if (value && value.length > limits.maxValueBytes) throw new ImapSyntaxError('id-too-large', 'ID value too long');
      // ID is informational: undecodable bytes become U+FFFD rather than failing the command.
      params.push({ key: utf8.decode(key), value: value === null ? null : utf8.decode(value) });
      if (r.tryByte(0x29)) break;
      r.sp();
    }
  }
  r.end();
  return { params };
}

export const ID: ImapVerbSpec<'ID', IdArgs> = {
  name: 'ID',
  states: ANY_STATE,
  tls: 'any',
  secretArgs: [],
  parse,
  describe: ({ params }) => (params === null ? ['NIL'] : params.flatMap((p) => [logWord(p.key), p.value === null ? 'NIL' : logWord(p.value)])),
};
