import { describe, expect, it } from 'vitest';
import { ImapResponseReader, parseCapabilities, type ImapResponseEvent } from './response-reader';

const read = (input: string, reader = new ImapResponseReader()) => reader.push(Buffer.from(input, 'latin1')).map(view);

function view(e: ImapResponseEvent): unknown {
  return 'raw' in e && e.raw ? { ...e, raw: Buffer.from(e.raw).toString('latin1') } : e;
}

describe('ImapResponseReader', () => {
  it.each<[string, string, unknown[]]>([
    ['a greeting', '* OK Dovecot ready.\r\n', [{ type: 'untagged', status: 'OK', text: 'Dovecot ready.', raw: '* OK Dovecot ready.\r\n' }]],
    [
      'a greeting with a capability code',
      '* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN] Dovecot ready.\r\n',
      [
        {
          type: 'untagged',
          status: 'OK',
          code: { name: 'CAPABILITY', text: 'IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN' },
          text: 'Dovecot ready.',
          raw: '* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID AUTH=PLAIN] Dovecot ready.\r\n',
        },
      ],
    ],
    [
      'an alert',
      '* OK [ALERT] Maintenance at 22:00\r\n',
      [{ type: 'untagged', status: 'OK', code: { name: 'ALERT', text: '' }, text: 'Maintenance at 22:00', raw: '* OK [ALERT] Maintenance at 22:00\r\n' }],
    ],
    ['BYE', '* BYE shutting down\r\n', [{ type: 'untagged', status: 'BYE', text: 'shutting down', raw: '* BYE shutting down\r\n' }]],
    ['PREAUTH without text', '* PREAUTH\r\n', [{ type: 'untagged', status: 'PREAUTH', text: '', raw: '* PREAUTH\r\n' }]],
    [
      'a data response',
      '* CAPABILITY IMAP4rev1 ID\r\n',
      [{ type: 'untagged', keyword: 'CAPABILITY', text: 'IMAP4rev1 ID', raw: '* CAPABILITY IMAP4rev1 ID\r\n' }],
    ],
    [
      'a data response with a literal',
      '* ID ("name" {7}\r\nDovecot)\r\n',
      [{ type: 'untagged', keyword: 'ID', text: '("name" {7}\r\nDovecot)', raw: '* ID ("name" {7}\r\nDovecot)\r\n' }],
    ],
    ['a status text ending in braces is not a literal', '* OK see {5}\r\n', [{ type: 'untagged', status: 'OK', text: 'see {5}', raw: '* OK see {5}\r\n' }]],
    [
      'a tagged OK with code',
      'a3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n',
      [
        {
          type: 'tagged',
          tag: 'a3',
          status: 'OK',
          code: { name: 'CAPABILITY', text: 'IMAP4rev1 IDLE' },
          text: 'Logged in',
          raw: 'a3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n',
        },
      ],
    ],
    [
      'a tagged NO',
      'a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n',
      [
        {
          type: 'tagged',
          tag: 'a3',
          status: 'NO',
          code: { name: 'AUTHENTICATIONFAILED', text: '' },
          text: 'Authentication failed.',
          raw: 'a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n',
        },
      ],
    ],
    ['a continuation', '+ OK\r\n', [{ type: 'continuation', text: 'OK', raw: '+ OK\r\n' }]],
    ['a bare continuation', '+\r\n', [{ type: 'continuation', text: '', raw: '+\r\n' }]],
    ['a bare LF', '* OK hi\n', [{ type: 'untagged', status: 'OK', text: 'hi', raw: '* OK hi\n' }]],
    ['a malformed line', 'garbage\r\n', [{ type: 'error', reason: 'malformed', fatal: false, raw: 'garbage\r\n' }]],
    ['an unknown tagged status', 'a1 MAYBE x\r\n', [{ type: 'error', reason: 'malformed', fatal: false, raw: 'a1 MAYBE x\r\n' }]],
    ['an incomplete line', '* OK hel', []],
  ])('%s', (_name, input, expected) => {
    expect(read(input)).toEqual(expected);
  });

  it('stops on an over-long line or literal', () => {
    const reader = new ImapResponseReader({ maxLineBytes: 16, maxLiteralBytes: 4 });
    expect(read('* OK 0123456789abcdef\r\n', reader)).toEqual([{ type: 'error', reason: 'line-too-long', fatal: true }]);
    expect(read('a1 OK fine\r\n', reader)).toEqual([]);
    expect(read('* ID ({5}\r\n', new ImapResponseReader({ maxLiteralBytes: 4 }))).toEqual([{ type: 'error', reason: 'literal-too-large', fatal: true }]);
  });

  it('drainBuffered returns a partly read response and unread input, byte for byte', () => {
    const reader = new ImapResponseReader();
    expect(read('a1 OK done\r\n* 1 FETCH (BODY[] {10}\r\n01234', reader)).toHaveLength(1);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('* 1 FETCH (BODY[] {10}\r\n01234');
    expect(reader.drainBuffered()).toHaveLength(0);
    expect(read('* OK again\r\n', reader)).toEqual([{ type: 'untagged', status: 'OK', text: 'again', raw: '* OK again\r\n' }]);
  });

  it('parses capability lists', () => {
    expect(parseCapabilities('IMAP4rev1  literal+ AUTH=PLAIN')).toEqual(['IMAP4REV1', 'LITERAL+', 'AUTH=PLAIN']);
  });
});
