import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pop3CommandInfo } from './commands';
import { parsePop3Command, redactPop3Command } from './parse-command';

function parse(line: string): unknown {
  const r = parsePop3Command(Buffer.from(line, 'latin1'));
  if (!r.ok) return { error: r.reason, keyword: r.keyword };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.command)) out[k] = v && typeof v === 'object' && 'reveal' in v ? `secret:${(v as { reveal(): string }).reveal()}` : v;
  return out;
}

describe('parsePop3Command', () => {
  it.each<[string, unknown]>([
    ['CAPA', { name: 'CAPA' }],
    ['capa', { name: 'CAPA' }],
    ['STLS', { name: 'STLS' }],
    ['NOOP', { name: 'NOOP' }],
    ['QUIT', { name: 'QUIT' }],
    ['QUIT now', { error: 'unexpected-arguments', keyword: 'QUIT' }],
    ['USER alice@example.com', { name: 'USER', user: 'alice@example.com' }],
    ['user j\xc3\xbcrgen', { name: 'USER', user: 'jürgen' }],
    ['USER', { error: 'missing-arguments', keyword: 'USER' }],
    ['USER a b', { error: 'unexpected-arguments', keyword: 'USER' }],
    ['USER  alice', { error: 'unexpected-arguments', keyword: 'USER' }],
    ['USER \xff', { error: 'invalid-utf8', keyword: 'USER' }],
    ['PASS secret', { name: 'PASS', password: 'secret:secret' }],
    ['PASS  two  spaces ', { name: 'PASS', password: 'secret: two  spaces ' }],
    ['PASS', { error: 'missing-arguments', keyword: 'PASS' }],
    ['PASS ', { error: 'missing-arguments', keyword: 'PASS' }],
    ['AUTH', { name: 'AUTH', mechanism: null, initialResponse: null }],
    ['AUTH plain', { name: 'AUTH', mechanism: 'PLAIN', initialResponse: null }],
    ['AUTH PLAIN AGFsaWNlAHB3ZA==', { name: 'AUTH', mechanism: 'PLAIN', initialResponse: 'secret:AGFsaWNlAHB3ZA==' }],
    ['AUTH PLAIN =', { name: 'AUTH', mechanism: 'PLAIN', initialResponse: 'secret:' }],
    ['AUTH PLAIN not-base64!', { error: 'bad-initial-response', keyword: 'AUTH' }],
    ['AUTH PLAIN AAAA extra', { error: 'unexpected-arguments', keyword: 'AUTH' }],
    ['AUTH PL/AIN', { error: 'bad-keyword', keyword: 'AUTH' }],
    ['APOP alice c4c9334bac560ecc979e58001b3e22fb', { name: 'APOP', user: 'alice', digest: 'secret:c4c9334bac560ecc979e58001b3e22fb' }],
    ['APOP alice', { error: 'missing-arguments', keyword: 'APOP' }],
    ['STAT', { name: 'UNKNOWN', keyword: 'STAT' }],
    ['XOIP 1.2.3.4', { name: 'UNKNOWN', keyword: 'XOIP' }],
    ['GET / HTTP/1.1', { name: 'UNKNOWN', keyword: 'GET' }],
    ['', { error: 'bad-keyword', keyword: undefined }],
    [' USER a', { error: 'bad-keyword', keyword: undefined }],
    ['US\xc9R a', { error: 'bad-keyword', keyword: undefined }],
    ['USER a\0b', { error: 'bad-characters', keyword: undefined }],
    ['USER a\rb', { error: 'bad-characters', keyword: undefined }],
  ])('%j', (line, expected) => {
    expect(parse(line)).toEqual(expected);
  });

  it('keeps an 8-bit password as bytes', () => {
    const r = parsePop3Command(Buffer.from('PASS \xe9\xff', 'latin1'));
    expect(r.ok && r.command.name === 'PASS' && Array.from(r.command.password.bytes())).toEqual([0xe9, 0xff]);
  });
});

describe('redactPop3Command', () => {
  const redact = (line: string) => {
    const r = parsePop3Command(Buffer.from(line));
    if (!r.ok) throw new Error(r.reason);
    return redactPop3Command(r.command);
  };

  it.each([
    ['USER alice', 'USER alice'],
    ['PASS hunter2', 'PASS [redacted]'],
    ['AUTH PLAIN AGFsaWNlAHB3ZA==', 'AUTH PLAIN [redacted]'],
    ['AUTH PLAIN', 'AUTH PLAIN'],
    ['APOP alice 0123', 'APOP alice [redacted]'],
    ['stat', 'STAT'],
  ])('%j → %s', (line, expected) => {
    expect(redact(line)).toBe(expected);
  });

  it('a password never prints, serialises or inspects as its value', () => {
    const r = parsePop3Command(Buffer.from('PASS hunter2'));
    expect([JSON.stringify(r), inspect(r), String(r.ok && r.command.name === 'PASS' && r.command.password)].join()).not.toContain('hunter2');
  });
});

describe('POP3 verb table', () => {
  it('declares states, TLS policy and secrets as data', () => {
    expect(pop3CommandInfo('PASS')).toEqual({ name: 'PASS', states: ['authorization'], tls: 'cleartext-guarded', secretArgs: ['password'] });
    expect(pop3CommandInfo('STLS')).toMatchObject({ tls: 'before-tls' });
    expect(pop3CommandInfo('CAPA')?.states).toContain('authorization');
    expect(pop3CommandInfo('STAT')).toBeUndefined();
  });
});
