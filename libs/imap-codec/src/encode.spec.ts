import { describe, expect, it } from 'vitest';
import {
  encodeCapability,
  encodeCommand,
  encodeContinuation,
  encodeIdCommand,
  encodeIdResponse,
  encodeLoginCommand,
  encodeTagged,
  encodeUntagged,
  encodeUntaggedStatus,
  quoteAstring,
} from './encode';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const texts = (chunks: readonly Uint8Array[]) => chunks.map(text);

describe('IMAP encoders', () => {
  it.each<[string, Uint8Array, string]>([
    ['tagged OK', encodeTagged('a1', 'OK', 'completed'), 'a1 OK completed\r\n'],
    ['tagged NO with a code', encodeTagged('a1', 'NO', 'LOGIN failed', 'AUTHENTICATIONFAILED'), 'a1 NO [AUTHENTICATIONFAILED] LOGIN failed\r\n'],
    ['tagged BAD without text', encodeTagged('a1', 'BAD', ''), 'a1 BAD\r\n'],
    ['untagged', encodeUntagged('BYE Zimbra IMAP server terminating connection'), '* BYE Zimbra IMAP server terminating connection\r\n'],
    ['untagged status with code', encodeUntaggedStatus('OK', 'ready', 'CAPABILITY IMAP4rev1 STARTTLS'), '* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n'],
    ['continuation', encodeContinuation('Ready for literal data'), '+ Ready for literal data\r\n'],
    ['empty continuation (SASL)', encodeContinuation(), '+ \r\n'],
    ['capability', encodeCapability(['IMAP4rev1', 'ID', 'LITERAL+', 'SASL-IR', 'AUTH=PLAIN']), '* CAPABILITY IMAP4rev1 ID LITERAL+ SASL-IR AUTH=PLAIN\r\n'],
    ['ID NIL', encodeIdResponse(null), '* ID NIL\r\n'],
    [
      'ID list',
      encodeIdResponse([
        { key: 'NAME', value: 'Zimbra' },
        { key: 'VERSION', value: '10.1' },
        { key: 'RELEASE', value: null },
      ]),
      '* ID ("NAME" "Zimbra" "VERSION" "10.1" "RELEASE" NIL)\r\n',
    ],
    ['ID value needing a literal', encodeIdResponse([{ key: 'name', value: 'Почта' }]), '* ID ("name" {10}\r\n\xd0\x9f\xd0\xbe\xd1\x87\xd1\x82\xd0\xb0)\r\n'],
    ['quoted astring with escapes', quoteAstring('a"b\\c'), '"a\\"b\\\\c"'],
    ['literal astring', quoteAstring('pä'), '{3}\r\np\xc3\xa4'],
    ['LITERAL+ astring', quoteAstring('line\r\n', { literalPlus: true }), '{6+}\r\nline\r\n'],
  ])('%s', (_name, bytes, expected) => {
    expect(text(bytes)).toBe(expected);
  });

  it.each<[string, () => unknown]>([
    ['CRLF in text', () => encodeTagged('a', 'OK', 'x\r\n* OK injected')],
    ['LF in untagged text', () => encodeUntagged('x\ny')],
    ['NUL in a continuation', () => encodeContinuation('\0')],
    ['] in a code', () => encodeTagged('a', 'OK', 'x', 'ALERT] y')],
    ['an invalid tag', () => encodeTagged('a b', 'OK', 'x')],
    ['a tag with +', () => encodeTagged('+', 'OK', 'x')],
    ['a capability with a space', () => encodeCapability(['IMAP4rev1 X'])],
    ['31 ID pairs', () => encodeIdResponse(Array.from({ length: 31 }, (_, i) => ({ key: `k${i}`, value: null })))],
    ['a 1025-byte ID value', () => encodeIdCommand('a', [{ key: 'k', value: 'v'.repeat(1025) }], { literalPlus: true })],
  ])('refuses %s', (_name, fn) => {
    expect(fn).toThrow();
  });

  describe('upstream LOGIN', () => {
    it('with LITERAL+: one write, both literals inline', () => {
      expect(texts(encodeLoginCommand('a3', 'alice@example.com', 'sec ret', { literalPlus: true }))).toEqual([
        'a3 LOGIN {17+}\r\nalice@example.com {7+}\r\nsec ret\r\n',
      ]);
    });

    it('without LITERAL+: three chunks, each after a continuation', () => {
      expect(texts(encodeLoginCommand('a3', 'alice', 'pwd', { literalPlus: false }))).toEqual(['a3 LOGIN {5}\r\n', 'alice {3}\r\n', 'pwd\r\n']);
    });

    it('quoted when asked and possible', () => {
      expect(texts(encodeLoginCommand('a3', 'alice', 'p"w', { literalPlus: false, literals: 'when-needed' }))).toEqual(['a3 LOGIN "alice" "p\\"w"\r\n']);
      expect(texts(encodeLoginCommand('a3', 'alice', 'pä', { literalPlus: false, literals: 'when-needed' }))).toEqual([
        'a3 LOGIN "alice" {3}\r\n',
        'p\xc3\xa4\r\n',
      ]);
    });

    it('sends a byte password as is', () => {
      expect(texts(encodeLoginCommand('a', 'u', Uint8Array.from([0xe9]), { literalPlus: true }))).toEqual(['a LOGIN {1+}\r\nu {1+}\r\n\xe9\r\n']);
    });
  });

  describe('upstream ID', () => {
    const params = [
      { key: 'X-ORIGINATING-IP', value: '192.0.2.7' },
      { key: 'name', value: 'Postern' },
      { key: 'X-VIA', value: 'Thunderbird/115.0,198.51.100.1(postern)' },
    ];

    it('quotes printable values in one write', () => {
      expect(texts(encodeIdCommand('a3', params, { literalPlus: false }))).toEqual([
        'a3 ID ("X-ORIGINATING-IP" "192.0.2.7" "name" "Postern" "X-VIA" "Thunderbird/115.0,198.51.100.1(postern)")\r\n',
      ]);
    });

    it('uses literals for other values', () => {
      expect(texts(encodeIdCommand('a3', [{ key: 'name', value: 'ü' }], { literalPlus: false }))).toEqual(['a3 ID ("name" {2}\r\n', '\xc3\xbc)\r\n']);
      expect(texts(encodeIdCommand('a3', null, { literalPlus: false }))).toEqual(['a3 ID NIL\r\n']);
    });
  });

  it('encodeCommand writes atoms, NIL and nested lists', () => {
    expect(texts(encodeCommand('t', 'X', [{ atom: 'A' }, null, ['b', [{ atom: 'C' }]]], { literalPlus: false }))).toEqual(['t X A NIL ("b" (C))\r\n']);
  });
});
