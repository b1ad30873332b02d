import { describe, expect, it } from 'vitest';
import { createPop3Decoder, createPop3UpstreamReader } from './pop3-wire.adapter';
import type { Pop3Input } from './pop3-wire';

const bytes = (text: string) => Buffer.from(text, 'latin1');
const kinds = (inputs: Pop3Input[]) => inputs.map((i) => (i.kind === 'command' ? i.command.name : i.kind));

describe('POP3 client decoder', () => {
  it('decodes pipelined commands until one that changes the stream', () => {
    const decoder = createPop3Decoder();
    expect(kinds(decoder.push(bytes('CAPA\r\nUSER bob\r\nPASS secret\r\nSTAT\r\n')))).toEqual(['CAPA', 'USER', 'PASS']);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('STAT\r\n');
  });

  it('halts after STLS: plaintext after it is never decoded', () => {
    const decoder = createPop3Decoder();
    expect(kinds(decoder.push(bytes('STLS\r\nUSER evil\r\n')))).toEqual(['STLS']);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('USER evil\r\n');
  });

  it('AUTH PLAIN without an initial response reads the next line as the SASL response', () => {
    const decoder = createPop3Decoder();
    expect(kinds(decoder.push(bytes('AUTH PLAIN\r\n*\r\n')))).toEqual(['AUTH']);
    expect(decoder.expectSaslLine()).toEqual([{ kind: 'sasl-line', response: { kind: 'abort' } }]);
    expect(decoder.resume()).toEqual([]);
  });

  it('takes a PASS longer than RFC 2449 lines (passwords up to the proxy limit)', () => {
    const decoder = createPop3Decoder();
    const [pass] = decoder.push(bytes(`PASS ${'p'.repeat(600)}\r\n`));
    expect(pass).toMatchObject({ kind: 'command', command: { name: 'PASS' } });
    expect(pass!.kind === 'command' && pass!.command.name === 'PASS' && pass!.command.password.byteLength).toBe(600);
  });

  it('recognises an HTTP request, and refuses control characters', () => {
    expect(kinds(createPop3Decoder().push(bytes('POST /x HTTP/1.1\r\n')))).toEqual(['http']);
    expect(createPop3Decoder().push(bytes('US\x01ER bob\r\n'))).toEqual([{ kind: 'bad', reason: 'bad-characters' }]);
  });
});

describe('POP3 upstream reader', () => {
  it('reads the greeting and replies, and hands back what follows the last one', () => {
    const reader = createPop3UpstreamReader();
    expect(reader.push(bytes('+OK [XCLIENT] Dovecot ready.\r\n-ERR [AUTH] no\r\n+OK Logged in.\r\n+OK 2 m'))).toMatchObject([
      { kind: 'ok', code: 'XCLIENT', text: 'Dovecot ready.' },
      { kind: 'err', code: 'AUTH', text: 'no' },
      { kind: 'ok', text: 'Logged in.' },
    ]);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('+OK 2 m');
  });
});
