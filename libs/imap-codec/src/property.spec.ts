/**
 * Properties of the IMAP codec over generated input (fast-check): any chunking of a valid stream
 * decodes the same, no input makes it throw, and what the encoders write parses back to exactly
 * the arguments given (so no argument can carry a line break into a second command).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toImapClientInput } from './client-input';
import { encodeCommand, encodeIdCommand, encodeLoginCommand } from './encode';
import { ImapCommandFramer } from './framer';
import { parseCommand } from './parse-command';
import { ImapResponseReader } from './response-reader';

const TAG_CHARS = [...Array(0x7e - 0x20).keys()].map((i) => String.fromCharCode(0x21 + i)).filter((ch) => !'(){%*"\\+'.includes(ch));
const tag = fc.array(fc.constantFrom(...TAG_CHARS), { minLength: 1, maxLength: 64 }).map((chars) => chars.join(''));
/** User names the grammar takes: UTF-8, up to Zimbra's 256 bytes. */
const userid = fc.string({ minLength: 0, maxLength: 60, unit: 'grapheme' });
/** Passwords: any bytes IMAP can carry (a literal's CHAR8 excludes NUL, RFC 9051 §9). */
const password = fc.uint8Array({ min: 1, minLength: 0, maxLength: 60 });

/** Everything the framer and parser make of a byte stream, pushed in the given pieces. */
function decode(pieces: readonly Uint8Array[]): unknown[] {
  const framer = new ImapCommandFramer();
  const out: unknown[] = [];
  for (const piece of pieces) {
    framer.push(piece);
    for (let e = framer.next(); e; e = framer.next()) {
      const input = toImapClientInput(e);
      out.push(
        input.kind === 'command' && input.command.name === 'LOGIN'
          ? { ...input.command, password: Buffer.from(input.command.password.bytes()).toString('hex') }
          : input,
      );
    }
  }
  return out;
}

/** Cuts `bytes` at the given points. */
function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const p of at) {
    pieces.push(bytes.subarray(start, p));
    start = p;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

const command = fc.oneof(
  fc.tuple(tag, userid, password).map(([t, u, p]) => Buffer.concat(encodeLoginCommand(t, u, p, { literalPlus: true }))),
  fc.tuple(tag, fc.constantFrom('NOOP', 'CAPABILITY', 'LOGOUT', 'SELECT')).map(([t, verb]) => Buffer.concat(encodeCommand(t, verb, [], { literalPlus: true }))),
  fc.tuple(tag, fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 })), { maxLength: 4 })).map(([t, pairs]) =>
    Buffer.concat(
      encodeIdCommand(
        t,
        pairs.map(([key, value]) => ({ key, value })),
        { literalPlus: true },
      ),
    ),
  ),
);

describe('IMAP codec properties', () => {
  it('decodes any chunking of a valid command stream the same as the whole', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }), (commands, points) => {
        const stream = Buffer.concat(commands);
        expect(decode(cut(stream, points))).toEqual(decode([stream]));
      }),
    );
  });

  it('never throws on any bytes, client or upstream side', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (pieces) => {
        decode(pieces);
        const reader = new ImapResponseReader();
        for (const piece of pieces) reader.push(piece);
        const framer = new ImapCommandFramer();
        for (const piece of pieces) {
          framer.push(piece);
          for (let e = framer.next(); e; e = framer.next()) if (e.type === 'command') parseCommand(e.frame);
        }
      }),
    );
  });

  it('LOGIN as encoded for the upstream parses back to exactly its arguments: no line break escapes an argument', () => {
    fc.assert(
      fc.property(tag, userid, password, fc.boolean(), (t, u, p, literalPlus) => {
        const chunks = encodeLoginCommand(t, u, p, { literalPlus, literals: 'when-needed' });
        const events = decode([Buffer.concat(chunks)]).filter((e) => (e as { kind: string }).kind !== 'continue');
        expect(events).toEqual([{ tag: t, name: 'LOGIN', userid: u, password: Buffer.from(p).toString('hex') }]);
      }),
    );
  });
});
