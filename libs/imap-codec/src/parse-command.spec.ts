import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ImapCommand } from './commands/registry';
import { IMAP_VERBS, imapCommandInfo } from './commands/registry';
import { ImapCommandFramer, type ImapFrame } from './framer';
import { parseCommand, redactCommand, type ImapParseResult } from './parse-command';

/** Frames `input` (accepting every literal) and returns the single command's frame. */
function frameOf(input: string): ImapFrame {
  const f = new ImapCommandFramer();
  f.push(Buffer.from(input, 'latin1'));
  for (let e = f.next(); e; e = f.next()) if (e.type === 'command') return e.frame;
  throw new Error(`no command in ${JSON.stringify(input)}`);
}

/** The result with secrets revealed, for comparison. */
function reveal(result: ImapParseResult): unknown {
  if (!result.ok) return { error: result.reason, tag: result.tag, verb: result.verb };
  const c = result.command as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[k] = v && typeof v === 'object' && 'reveal' in v ? `secret:${(v as { reveal(): string }).reveal()}` : v;
  return out;
}

const parse = (input: string) => reveal(parseCommand(frameOf(input)));

describe('parseCommand', () => {
  it.each<[string, unknown]>([
    // Verbs without arguments, any case
    ['a1 CAPABILITY\r\n', { tag: 'a1', name: 'CAPABILITY' }],
    ['a1 capability\r\n', { tag: 'a1', name: 'CAPABILITY' }],
    ['x.y NOOP\r\n', { tag: 'x.y', name: 'NOOP' }],
    ['a] LOGOUT\r\n', { tag: 'a]', name: 'LOGOUT' }],
    ['A001 StartTLS\r\n', { tag: 'A001', name: 'STARTTLS' }],
    ['a1 NOOP extra\r\n', { error: 'unexpected-arguments', tag: 'a1', verb: 'NOOP' }],
    ['a1 NOOP \r\n', { error: 'unexpected-arguments', tag: 'a1', verb: 'NOOP' }],
    // LOGIN: atoms, quoted strings with escapes, literals, LITERAL+
    ['a LOGIN alice secret\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:secret' }],
    ['a LOGIN alice@example.com pa]ss\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice@example.com', password: 'secret:pa]ss' }],
    ['a LOGIN "alice" "p a s s"\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:p a s s' }],
    ['a LOGIN "al\\"ice" "p\\\\w"\r\n', { tag: 'a', name: 'LOGIN', userid: 'al"ice', password: 'secret:p\\w' }],
    ['a LOGIN "" ""\r\n', { tag: 'a', name: 'LOGIN', userid: '', password: 'secret:' }],
    ['a LOGIN {5}\r\nalice {6}\r\nsecret\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:secret' }],
    ['a LOGIN {5+}\r\nalice {7+}\r\nse"c re\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:se"c re' }],
    ['a LOGIN alice {4+}\r\n\r\n\r\n\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:\r\n\r\n' }],
    ['a LOGIN "alice" {3}\r\npwd\r\n', { tag: 'a', name: 'LOGIN', userid: 'alice', password: 'secret:pwd' }],
    ['a LOGIN "j\xc3\xbcrgen" pw\r\n', { tag: 'a', name: 'LOGIN', userid: 'jürgen', password: 'secret:pw' }],
    ['a LOGIN alice\r\n', { error: 'missing-arguments', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN\r\n', { error: 'missing-arguments', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN alice pw extra\r\n', { error: 'unexpected-arguments', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN  alice pw\r\n', { error: 'syntax', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN alice{3}\r\npwd\r\n', { error: 'syntax', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN (alice) pw\r\n', { error: 'syntax', tag: 'a', verb: 'LOGIN' }],
    ['a LOGIN "\xff\xfe" pw\r\n', { error: 'invalid-utf8', tag: 'a', verb: 'LOGIN' }],
    // AUTHENTICATE with and without SASL-IR
    ['a AUTHENTICATE PLAIN\r\n', { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: null }],
    ['a authenticate plain AGFsaWNlAHNlY3JldA==\r\n', { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: 'secret:AGFsaWNlAHNlY3JldA==' }],
    ['a AUTHENTICATE PLAIN =\r\n', { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: 'secret:' }],
    ['a AUTHENTICATE GSSAPI\r\n', { tag: 'a', name: 'AUTHENTICATE', mechanism: 'GSSAPI', initialResponse: null }],
    ['a AUTHENTICATE PLAIN not*base64\r\n', { error: 'unexpected-arguments', tag: 'a', verb: 'AUTHENTICATE' }],
    ['a AUTHENTICATE PLAIN AGFsaWNl!\r\n', { error: 'bad-initial-response', tag: 'a', verb: 'AUTHENTICATE' }],
    ['a AUTHENTICATE PLAIN AGF\r\n', { error: 'bad-initial-response', tag: 'a', verb: 'AUTHENTICATE' }],
    ['a AUTHENTICATE\r\n', { error: 'missing-arguments', tag: 'a', verb: 'AUTHENTICATE' }],
    ['a AUTHENTICATE PLAIN AAAA extra\r\n', { error: 'unexpected-arguments', tag: 'a', verb: 'AUTHENTICATE' }],
    // ID
    ['a ID NIL\r\n', { tag: 'a', name: 'ID', params: null }],
    ['a ID nil\r\n', { tag: 'a', name: 'ID', params: null }],
    ['a ID ()\r\n', { tag: 'a', name: 'ID', params: [] }],
    [
      'a2 ID ("name" "Thunderbird" "version" "115.0")\r\n',
      {
        tag: 'a2',
        name: 'ID',
        params: [
          { key: 'name', value: 'Thunderbird' },
          { key: 'version', value: '115.0' },
        ],
      },
    ],
    [
      'a ID ("name" NIL "os" {5+}\r\nLinux)\r\n',
      {
        tag: 'a',
        name: 'ID',
        params: [
          { key: 'name', value: null },
          { key: 'os', value: 'Linux' },
        ],
      },
    ],
    ['a ID ("k" "v\\"q")\r\n', { tag: 'a', name: 'ID', params: [{ key: 'k', value: 'v"q' }] }],
    ['a ID ("name")\r\n', { error: 'syntax', tag: 'a', verb: 'ID' }],
    ['a ID (name "x")\r\n', { error: 'syntax', tag: 'a', verb: 'ID' }],
    ['a ID ("name" "x"\r\n', { error: 'missing-arguments', tag: 'a', verb: 'ID' }],
    ['a ID ("name" "x") extra\r\n', { error: 'unexpected-arguments', tag: 'a', verb: 'ID' }],
    ['a ID\r\n', { error: 'missing-arguments', tag: 'a', verb: 'ID' }],
    [`a ID ("${'k'.repeat(31)}" "v")\r\n`, { error: 'id-too-large', tag: 'a', verb: 'ID' }],
    [`a ID ("k" "${'v'.repeat(1025)}")\r\n`, { error: 'id-too-large', tag: 'a', verb: 'ID' }],
    [`a ID (${Array.from({ length: 31 }, (_, i) => `"k${i}" "v"`).join(' ')})\r\n`, { error: 'id-too-large', tag: 'a', verb: 'ID' }],
    [`a ID (${Array.from({ length: 30 }, (_, i) => `"k${i}" NIL`).join(' ')})\r\n`, expect.objectContaining({ name: 'ID' })],
    // Anything else
    ['a SELECT INBOX\r\n', { tag: 'a', name: 'UNKNOWN', verb: 'SELECT' }],
    ['a1 xyzzy\r\n', { tag: 'a1', name: 'UNKNOWN', verb: 'XYZZY' }],
    ['GET / HTTP/1.1\r\n', { tag: 'GET', name: 'UNKNOWN', verb: '/' }],
    // Tags and verbs
    ['* NOOP\r\n', { error: 'bad-tag', tag: undefined, verb: undefined }],
    ['+ NOOP\r\n', { error: 'bad-tag', tag: undefined, verb: undefined }],
    ['a+ NOOP\r\n', { error: 'bad-tag', tag: undefined, verb: undefined }],
    ['a( NOOP\r\n', { error: 'bad-tag', tag: undefined, verb: undefined }],
    ['\r\n', { error: 'bad-tag', tag: undefined, verb: undefined }],
    // The proxy's tag grammar: at most IMAP_TAG_MAX_BYTES (64).
    [`${'t'.repeat(64)} NOOP\r\n`, { tag: 't'.repeat(64), name: 'NOOP' }],
    [`${'t'.repeat(65)} NOOP\r\n`, { error: 'bad-tag', tag: undefined, verb: undefined }],
    [`${'t'.repeat(127)} LOGIN alice secret\r\n`, { error: 'bad-tag', tag: undefined, verb: undefined }],
    ['a1\r\n', { error: 'bad-verb', tag: 'a1', verb: undefined }],
    ['a1 \r\n', { error: 'bad-verb', tag: 'a1', verb: undefined }],
    ['a1 (NOOP)\r\n', { error: 'bad-verb', tag: 'a1', verb: undefined }],
  ])('%j', (input, expected) => {
    expect(parse(input)).toEqual(expected);
  });

  it('honours configured ID limits', () => {
    const frame = frameOf('a ID ("k1" "v" "k2" "v")\r\n');
    expect(parseCommand(frame, { id: { maxPairs: 1 } })).toMatchObject({ ok: false, reason: 'id-too-large' });
  });

  it('keeps a non-UTF-8 password as bytes', () => {
    const result = parseCommand(frameOf('a LOGIN alice {2+}\r\n\xe9\xff\r\n'));
    expect(result.ok && result.command.name === 'LOGIN' && Array.from(result.command.password.bytes())).toEqual([0xe9, 0xff]);
  });
});

describe('redactCommand', () => {
  const commandOf = (input: string): ImapCommand => {
    const r = parseCommand(frameOf(input));
    if (!r.ok) throw new Error(r.reason);
    return r.command;
  };

  it.each([
    ['a1 LOGIN alice secret\r\n', 'a1 LOGIN alice [redacted]'],
    ['a1 LOGIN "al ice" {6+}\r\nsecret\r\n', 'a1 LOGIN "al ice" [redacted]'],
    ['a1 LOGIN "a\\"\\\\" x\r\n', 'a1 LOGIN "a\\"\\\\" [redacted]'],
    ['a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n', 'a1 AUTHENTICATE PLAIN [redacted]'],
    ['a1 AUTHENTICATE PLAIN\r\n', 'a1 AUTHENTICATE PLAIN'],
    ['a1 ID ("name" "Thunderbird" "os" NIL)\r\n', 'a1 ID name Thunderbird os NIL'],
    ['a1 ID NIL\r\n', 'a1 ID NIL'],
    ['a1 CAPABILITY\r\n', 'a1 CAPABILITY'],
    ['a1 SELECT INBOX\r\n', 'a1 SELECT'],
  ])('%j → %s', (input, expected) => {
    expect(redactCommand(commandOf(input))).toBe(expected);
  });

  it('a secret never prints, serialises or inspects as its value', () => {
    const c = commandOf('a1 LOGIN alice hunter2\r\n');
    // The template literal is the point: a secret interpolated by mistake must print redacted.
    // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
    const text = [String(c.name === 'LOGIN' && c.password), JSON.stringify(c), inspect(c), `${c.name === 'LOGIN' ? c.password : ''}`].join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('[redacted]');
  });
});

describe('verb table', () => {
  it('declares states, TLS policy and secret arguments as data', () => {
    expect(imapCommandInfo('LOGIN')).toEqual({ name: 'LOGIN', states: ['not-authenticated'], tls: 'cleartext-guarded', secretArgs: ['password'] });
    expect(imapCommandInfo('AUTHENTICATE')?.secretArgs).toEqual(['initialResponse']);
    expect(imapCommandInfo('STARTTLS')).toMatchObject({ states: ['not-authenticated'], tls: 'before-tls' });
    expect(imapCommandInfo('CAPABILITY')?.states).toContain('not-authenticated');
    expect(imapCommandInfo('SELECT')).toBeUndefined();
    for (const [name, spec] of Object.entries(IMAP_VERBS)) expect(spec.name).toBe(name);
  });
});
