import { describe, expect, it } from 'vitest';
import { Pop3ResponseReader, type Pop3ResponseEvent } from './response-reader';

const view = (e: Pop3ResponseEvent) => ('raw' in e && e.raw ? { ...e, raw: Buffer.from(e.raw).toString('latin1') } : e);
function read(input: string, reader = new Pop3ResponseReader()): unknown[] {
  reader.push(Buffer.from(input, 'latin1'));
  const out: unknown[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push(view(e));
  return out;
}

describe('Pop3ResponseReader', () => {
  it.each<[string, string, unknown[]]>([
    ['a greeting', '+OK Dovecot ready.\r\n', [{ type: 'ok', text: 'Dovecot ready.', raw: '+OK Dovecot ready.\r\n' }]],
    ['a bare +OK', '+OK\r\n', [{ type: 'ok', text: '', raw: '+OK\r\n' }]],
    [
      '-ERR with a code',
      '-ERR [AUTH] Authentication failed.\r\n',
      [{ type: 'err', code: 'AUTH', text: 'Authentication failed.', raw: '-ERR [AUTH] Authentication failed.\r\n' }],
    ],
    ['-ERR [SYS/TEMP]', '-ERR [SYS/TEMP] try later\r\n', [{ type: 'err', code: 'SYS/TEMP', text: 'try later', raw: '-ERR [SYS/TEMP] try later\r\n' }]],
    ['a continuation', '+ \r\n', [{ type: 'continuation', text: '', raw: '+ \r\n' }]],
    ['a bare LF', '+OK hi\n', [{ type: 'ok', text: 'hi', raw: '+OK hi\n' }]],
    ['a malformed line', '* OK imap?\r\n', [{ type: 'error', reason: 'malformed', fatal: false, raw: '* OK imap?\r\n' }]],
    ['+OKAY is not +OK', '+OKAY\r\n', [{ type: 'error', reason: 'malformed', fatal: false, raw: '+OKAY\r\n' }]],
    ['an incomplete line', '+OK Dov', []],
  ])('%s', (_name, input, expected) => {
    expect(read(input)).toEqual(expected);
  });

  it('expectMultiline: collects and un-dot-stuffs until "."', () => {
    const reader = new Pop3ResponseReader();
    reader.expectMultiline();
    const raw = '+OK\r\nCAPA\r\nTOP\r\n..dotted\r\nSASL PLAIN\r\n.\r\n';
    expect(read(raw, reader)).toEqual([{ type: 'multiline', text: '', lines: ['CAPA', 'TOP', '.dotted', 'SASL PLAIN'], raw }]);
    expect(read('+OK single\r\n', reader)).toEqual([{ type: 'ok', text: 'single', raw: '+OK single\r\n' }]);
  });

  it('expectMultiline: a -ERR is single-line and cancels the expectation', () => {
    const reader = new Pop3ResponseReader();
    reader.expectMultiline();
    expect(read('-ERR no CAPA\r\n+OK next\r\n', reader)).toEqual([
      { type: 'err', text: 'no CAPA', raw: '-ERR no CAPA\r\n' },
      { type: 'ok', text: 'next', raw: '+OK next\r\n' },
    ]);
  });

  it('drainBuffered returns a partly collected response and unread input, byte for byte', () => {
    const reader = new Pop3ResponseReader();
    expect(read('+OK logged in\r\n', reader)).toHaveLength(1);
    reader.expectMultiline();
    expect(read('+OK 2 messages\r\n1 120\r\n2 3', reader)).toEqual([]);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('+OK 2 messages\r\n1 120\r\n2 3');
    expect(reader.drainBuffered()).toHaveLength(0);
  });

  it('stops on an over-long line or multi-line response', () => {
    expect(read(`+OK ${'x'.repeat(5000)}`)).toEqual([{ type: 'error', reason: 'line-too-long', fatal: true }]);
    const reader = new Pop3ResponseReader({ maxMultilineBytes: 100 });
    reader.expectMultiline();
    expect(read(`+OK\r\n${'CAP\r\n'.repeat(30)}`, reader)).toEqual([{ type: 'error', reason: 'multiline-too-large', fatal: true }]);
    expect(read('+OK\r\n', reader)).toEqual([]);
  });
});
