import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LdifSyntaxError } from './errors';
import { parseLdif } from './ldif';
import { DIRECTORY_FIXTURE_PATH } from './paths';

describe('parseLdif (RFC 2849)', () => {
  it('reads records, several values, comments and the version line', () => {
    const entries = parseLdif(
      [
        'version: 1',
        '',
        '# a comment',
        'dn: cn=a,dc=test',
        'objectClass: top',
        'objectClass: person',
        'cn: a',
        'sn: A',
        '',
        '',
        'dn: cn=b,dc=test',
        'cn: b',
        '',
      ].join('\n'),
    );
    expect(entries).toEqual([
      { dn: 'cn=a,dc=test', attributes: { objectClass: ['top', 'person'], cn: ['a'], sn: ['A'] } },
      { dn: 'cn=b,dc=test', attributes: { cn: ['b'] } },
    ]);
  });

  it('accepts a version line directly followed by the first record, and no version line', () => {
    expect(parseLdif('version: 1\ndn: cn=a\ncn: a\n')).toEqual([{ dn: 'cn=a', attributes: { cn: ['a'] } }]);
    expect(parseLdif('dn: cn=a\ncn: a')).toEqual([{ dn: 'cn=a', attributes: { cn: ['a'] } }]);
  });

  it('unfolds continuation lines (one leading space removed), also in comments', () => {
    const entries = parseLdif('# long comment\n  continued: not an attribute\ndn: cn=a,\n dc=test\ndescription: one \n two\n  three\n');
    expect(entries).toEqual([{ dn: 'cn=a,dc=test', attributes: { description: ['one two three'] } }]);
  });

  it('decodes base64 values and DNs as UTF-8', () => {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const entries = parseLdif(`dn:: ${b64('cn=Ünïcödé,dc=test')}\ncn:: ${b64('Ünïcödé')}\ndescription:: ${b64(' leading space')}\n`);
    expect(entries).toEqual([{ dn: 'cn=Ünïcödé,dc=test', attributes: { cn: ['Ünïcödé'], description: [' leading space'] } }]);
  });

  it('handles CRLF, empty values, options and case-insensitive grouping', () => {
    const entries = parseLdif('dn: cn=a\r\ncn: a\r\nCN: b\r\ncn;lang-de: c\r\ndescription:\r\n');
    expect(entries).toEqual([{ dn: 'cn=a', attributes: { cn: ['a', 'b'], 'cn;lang-de': ['c'], description: [''] } }]);
  });

  it('keeps values with colons and trailing spaces', () => {
    expect(parseLdif('dn: cn=a\nurl: http://x:1/ \n')[0]?.attributes).toEqual({ url: ['http://x:1/ '] });
  });

  it.each([
    ['record without dn', 'cn: a\n', 1],
    ['continuation at the start', ' cn: a\n', 1],
    ['continuation after a blank line', 'dn: cn=a\n\n cn: a\n', 3],
    ['missing colon', 'dn: cn=a\ncn a\n', 2],
    ['bad attribute name', 'dn: cn=a\nc n: a\n', 2],
    ['bad base64', 'dn: cn=a\ncn:: ***\n', 2],
    ['base64 of invalid UTF-8', 'dn: cn=a\ncn:: /w==\n', 2],
    ['URL values', 'dn: cn=a\njpegPhoto:< file:///etc/passwd\n', 2],
    ['change records', 'dn: cn=a\nchangetype: add\ncn: a\n', 2],
    ['two dns in one record', 'dn: cn=a\ncn: a\ndn: cn=b\n', 3],
    ['duplicate dn', 'dn: cn=a,dc=test\ncn: a\n\ndn: CN=A, DC=test\ncn: a\n', 4],
    ['unsupported version', 'version: 2\n\ndn: cn=a\n', 1],
  ])('rejects %s with its line', (_name, text, line) => {
    try {
      parseLdif(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LdifSyntaxError);
      expect((error as LdifSyntaxError).line).toBe(line);
      expect((error as LdifSyntaxError).code).toBe('LDIF_SYNTAX');
    }
  });

  it('parses the shared fixture', () => {
    const entries = parseLdif(readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8'));
    expect(entries.length).toBeGreaterThan(15);
    const alice = entries.find((e) => e.dn.startsWith('uid=alice,'));
    expect(alice?.attributes['zimbraMailAlias']).toEqual(['alice.smith@example.com', 'al@example.com']);
    expect(entries.every((e) => e.dn.endsWith('dc=postern,dc=test'))).toBe(true);
  });
});
