import { describe, expect, it } from 'vitest';
import { decodeSaslPlain, encodeSaslPlain, parseSaslResponseLine } from './sasl';
import { secret } from '@postern/contracts';

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

describe('SASL PLAIN (RFC 4616)', () => {
  it.each<[string, string, unknown]>([
    ['no authzid', b64('\0alice\0secret'), { authzid: '', authcid: 'alice', password: 'secret' }],
    ['with authzid (delegation)', b64('admin\0alice\0secret'), { authzid: 'admin', authcid: 'alice', password: 'secret' }],
    ['UTF-8 identities', b64('\0j\xc3\xbcrgen\0p w'), { authzid: '', authcid: 'jürgen', password: 'p w' }],
  ])('decodes %s', (_name, input, expected) => {
    const r = decodeSaslPlain(input);
    expect(r.ok && { ...r.credentials, password: r.credentials.password.reveal() }).toEqual(expected);
  });

  it.each<[string, string, string]>([
    ['invalid base64', 'AGFs!', 'invalid-base64'],
    ['unpadded base64', 'AGFsaWNlAHB3ZA', 'invalid-base64'],
    ['base64 with whitespace', 'AGFs aWNl', 'invalid-base64'],
    ['empty', '', 'malformed'],
    ['one NUL', b64('alice\0secret'), 'malformed'],
    ['three NULs', b64('\0alice\0sec\0ret'), 'malformed'],
    ['empty authcid', b64('\0\0secret'), 'empty-authcid'],
    ['empty password', b64('\0alice\0'), 'empty-password'],
    ['a 257-byte authcid', b64(`\0${'a'.repeat(257)}\0pw`), 'too-long'],
    ['a 1025-byte password', b64(`\0alice\0${'p'.repeat(1025)}`), 'too-long'],
    ['a huge message', 'A'.repeat(100_000), 'too-long'],
    ['an invalid UTF-8 authcid', b64('\0\xff\0pw'), 'invalid-utf8'],
  ])('refuses %s', (_name, input, reason) => {
    expect(decodeSaslPlain(input)).toEqual({ ok: false, reason });
  });

  it('accepts a secret and keeps a non-UTF-8 password as bytes', () => {
    const r = decodeSaslPlain(secret(b64('\0alice\0\xe9')));
    expect(r.ok && Array.from(r.credentials.password.bytes())).toEqual([0xe9]);
  });

  it('round-trips through encodeSaslPlain', () => {
    expect(encodeSaslPlain({ authcid: 'alice', password: 'secret' })).toBe(b64('\0alice\0secret'));
    expect(encodeSaslPlain({ authzid: 'admin', authcid: 'alice', password: secret('s') })).toBe(b64('admin\0alice\0s'));
  });
});

describe('parseSaslResponseLine', () => {
  it.each<[string, unknown]>([
    ['*', { kind: 'abort' }],
    ['AGFsaWNlAHB3ZA==', { kind: 'response', base64: 'AGFsaWNlAHB3ZA==' }],
    ['', { kind: 'response', base64: '' }],
    ['* ', { kind: 'invalid' }],
    ['a1 LOGOUT', { kind: 'invalid' }],
  ])('%j', (line, expected) => {
    const r = parseSaslResponseLine(Buffer.from(line));
    expect(r.kind === 'response' ? { kind: r.kind, base64: r.base64.reveal() } : r).toEqual(expected);
  });
});
