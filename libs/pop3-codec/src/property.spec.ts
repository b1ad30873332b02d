/**
 * Properties of the POP3 codec over generated input (fast-check): any chunking of a valid stream
 * decodes the same, no input makes it throw, and an encoder either refuses an argument or writes
 * exactly one line that parses back to it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toPop3ClientInput } from './client-input';
import { encodePass, encodeUser } from './encode';
import { Pop3CommandFramer } from './framer';
import { Pop3ResponseReader } from './response-reader';

function decode(pieces: readonly Uint8Array[]): unknown[] {
  const framer = new Pop3CommandFramer({ maxLineBytes: 1040 });
  const out: unknown[] = [];
  for (const piece of pieces) {
    framer.push(piece);
    for (let e = framer.next(); e; e = framer.next()) {
      const input = toPop3ClientInput(e);
      out.push(input.kind === 'command' && input.command.name === 'PASS' ? { pass: Buffer.from(input.command.password.bytes()).toString('hex') } : input);
    }
  }
  return out;
}

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

const word = fc.string({ minLength: 1, maxLength: 30, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789@.-_') });
const line = fc.oneof(
  word.map((u) => `USER ${u}\r\n`),
  word.map((p) => `PASS ${p}\r\n`),
  fc.constantFrom('CAPA\r\n', 'NOOP\r\n', 'STAT\r\n', 'AUTH\r\n', 'AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n'),
);

describe('POP3 codec properties', () => {
  it('decodes any chunking of a valid command stream the same as the whole', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (lines, points) => {
        const stream = Buffer.from(lines.join(''), 'latin1');
        expect(decode(cut(stream, points))).toEqual(decode([stream]));
      }),
    );
  });

  it('never throws on any bytes, client or upstream side', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (pieces) => {
        decode(pieces);
        const reader = new Pop3ResponseReader();
        for (const piece of pieces) {
          reader.push(piece);
          while (reader.next());
        }
      }),
    );
  });

  it('USER and PASS either refuse an argument or write one line that parses back to it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (user, password) => {
        let userLine: Uint8Array | undefined;
        try {
          userLine = encodeUser(user);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
        }
        if (userLine) {
          const text = Buffer.from(userLine).toString('latin1');
          expect(text.indexOf('\r\n')).toBe(text.length - 2);
        }
        let passLine: Uint8Array | undefined;
        try {
          passLine = encodePass(password);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          expect(password.length === 0 || [...password].some((b) => b === 0 || b === 0x0a || b === 0x0d)).toBe(true);
        }
        if (passLine && [...password].every((b) => b >= 0x20 && b !== 0x7f))
          expect(decode([passLine])).toEqual([{ pass: Buffer.from(password).toString('hex') }]);
      }),
    );
  });
});
