import { describe, expect, it } from 'vitest';
import {
  encodeAuth,
  encodeAuthPlain,
  encodeCapa,
  encodeContinuation,
  encodeErr,
  encodeMultiline,
  encodeOk,
  encodePass,
  encodeUser,
  encodeXoip,
} from './encode';
import { secret } from './secret';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('POP3 encoders', () => {
  it.each<[string, Uint8Array, string]>([
    ['greeting', encodeOk('POP3 ready'), '+OK POP3 ready\r\n'],
    ['bare +OK', encodeOk(), '+OK\r\n'],
    ['-ERR', encodeErr('invalid command'), '-ERR invalid command\r\n'],
    ['-ERR [SYS/TEMP]', encodeErr('try again later', 'SYS/TEMP'), '-ERR [SYS/TEMP] try again later\r\n'],
    ['-ERR [AUTH]', encodeErr('authentication failed', 'AUTH'), '-ERR [AUTH] authentication failed\r\n'],
    ['-ERR [IN-USE]', encodeErr('mailbox locked', 'IN-USE'), '-ERR [IN-USE] mailbox locked\r\n'],
    [
      'CAPA with dot-stuffing',
      encodeMultiline('Capability list follows', ['TOP', 'USER', '.hidden', 'SASL PLAIN']),
      '+OK Capability list follows\r\nTOP\r\nUSER\r\n..hidden\r\nSASL PLAIN\r\n.\r\n',
    ],
    ['empty challenge', encodeContinuation(), '+ \r\n'],
    ['challenge', encodeContinuation('YWJj'), '+ YWJj\r\n'],
    ['USER', encodeUser('alice@example.com'), 'USER alice@example.com\r\n'],
    ['PASS with spaces', encodePass('a b '), 'PASS a b \r\n'],
    ['PASS bytes', encodePass(Uint8Array.from([0xe9])), 'PASS \xe9\r\n'],
    ['PASS secret', encodePass(secret('s3')), 'PASS s3\r\n'],
    ['XOIP v4', encodeXoip('192.0.2.7'), 'XOIP 192.0.2.7\r\n'],
    ['XOIP v6', encodeXoip('2001:db8::1'), 'XOIP 2001:db8::1\r\n'],
    ['CAPA', encodeCapa(), 'CAPA\r\n'],
  ])('%s', (_name, bytes, expected) => {
    expect(text(bytes)).toBe(expected);
  });

  it('AUTH: one line when it fits, else the response after a continuation', () => {
    expect(encodeAuthPlain('AGFsaWNlAHB3ZA==').map(text)).toEqual(['AUTH PLAIN AGFsaWNlAHB3ZA==\r\n']);
    expect(encodeAuth('PLAIN', '').map(text)).toEqual(['AUTH PLAIN =\r\n']);
    expect(encodeAuth('X-ZIMBRA').map(text)).toEqual(['AUTH X-ZIMBRA\r\n']);
    const long = 'A'.repeat(300);
    expect(encodeAuth('X-ZIMBRA', long).map(text)).toEqual(['AUTH X-ZIMBRA\r\n', `${long}\r\n`]);
  });

  it.each<[string, () => unknown]>([
    ['CRLF in text', () => encodeOk('a\r\n+OK forged')],
    ['LF in a multi-line line', () => encodeMultiline('x', ['a\nb'])],
    ['a bad response code', () => encodeErr('x', 'SYS]TEMP')],
    ['CRLF in a password', () => encodePass('pw\r\nDELE 1')],
    ['a space in USER', () => encodeUser('a b')],
    ['a non-IP in XOIP', () => encodeXoip('1.2.3.4\r\nQUIT')],
    ['non-base64 challenge', () => encodeContinuation('a b')],
    ['non-base64 IR', () => encodeAuth('PLAIN', 'a\r\n')],
  ])('refuses %s', (_name, fn) => {
    expect(fn).toThrow(TypeError);
  });
});
