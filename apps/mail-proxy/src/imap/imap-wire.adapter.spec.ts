import { describe, expect, it } from 'vitest';
import { createClientDecoder, createUpstreamReader, decodePlain, encodeIdCommand, parseCapabilities } from './imap-wire.adapter';
import type { ClientInput } from './imap-wire';

const bytes = (text: string) => Buffer.from(text, 'latin1');
const kinds = (inputs: ClientInput[]) => inputs.map((i) => (i.kind === 'command' ? `${i.tag} ${i.command.name}` : i.kind));

describe('IMAP client decoder', () => {
  it('answers pipelined commands in order', () => {
    const decoder = createClientDecoder();
    expect(kinds(decoder.push(bytes('a NOOP\r\nb CAPABILITY\r\nc SELECT INBOX\r\n')))).toEqual(['a NOOP', 'b CAPABILITY', 'c UNKNOWN']);
  });

  it('halts after STARTTLS: what follows is left raw, to be discarded', () => {
    const decoder = createClientDecoder();
    expect(kinds(decoder.push(bytes('a STARTTLS\r\nb LOGIN evil pw\r\n')))).toEqual(['a STARTTLS']);
    expect(decoder.push(bytes('c NOOP\r\n'))).toEqual([]);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('b LOGIN evil pw\r\nc NOOP\r\n');
    expect(decoder.resume()).toEqual([]);
  });

  it('halts after LOGIN: bytes pipelined after it stay raw for the upstream; resume() goes on after a failure', () => {
    const decoder = createClientDecoder();
    const first = decoder.push(bytes('a LOGIN bob secret\r\nb SELECT INBOX\r\n'));
    expect(kinds(first)).toEqual(['a LOGIN']);
    const login = first[0]!;
    expect(login.kind === 'command' && login.command.name === 'LOGIN' && login.command.user).toBe('bob');
    expect(kinds(decoder.resume())).toEqual(['b UNKNOWN']);
  });

  it('AUTHENTICATE without an initial response: the next line is a SASL response, never a command', () => {
    const decoder = createClientDecoder();
    expect(kinds(decoder.push(bytes('a AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n')))).toEqual(['a AUTHENTICATE']);
    const [line] = decoder.expectSaslLine();
    expect(line).toMatchObject({ kind: 'sasl-line', response: { kind: 'response' } });
    const response = line?.kind === 'sasl-line' && line.response.kind === 'response' ? line.response.base64 : undefined;
    expect(decodePlain(response!)).toMatchObject({ authzid: '', authcid: 'bob' });
    expect(decodePlain(response!)!.password.reveal()).toBe('secret');
    expect(String(response)).toBe('[redacted]');
  });

  it('asks for a synchronizing literal, then frames the command', () => {
    const decoder = createClientDecoder();
    expect(kinds(decoder.push(bytes('a LOGIN {3}\r\n')))).toEqual(['continue']);
    expect(kinds(decoder.push(bytes('bob secret\r\n')))).toEqual(['a LOGIN']);
  });

  it('recognises an HTTP request line and stops there', () => {
    const decoder = createClientDecoder();
    expect(kinds(decoder.push(bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n')))).toEqual(['http']);
  });

  it('reports an over-long line as a fatal limit', () => {
    const decoder = createClientDecoder();
    const [input] = decoder.push(bytes(`a LOGIN ${'x'.repeat(9000)}`));
    expect(input).toMatchObject({ kind: 'limit', limit: 'line-too-long', fatal: true });
  });
});

describe('IMAP upstream reader', () => {
  it('reads a greeting with capabilities, and hands back what follows the tagged reply', () => {
    const reader = createUpstreamReader();
    const [greeting] = reader.push(bytes('* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+] ready\r\n'));
    expect([...parseCapabilities(greeting!)]).toEqual(['IMAP4REV1', 'SASL-IR', 'LITERAL+']);
    expect(reader.push(bytes('a OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n* 3 EXI'))).toMatchObject([{ kind: 'tagged', tag: 'a', status: 'OK', code: 'CAPABILITY' }]);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('* 3 EXI');
  });

  it('fails the login on a response it cannot read to the end', () => {
    const reader = createUpstreamReader();
    expect(() => reader.push(bytes(`* OK ${'x'.repeat(70 * 1024)}`))).toThrow(/line-too-long/);
  });
});

describe('ID command to the upstream', () => {
  it('is one line whatever the client called itself', () => {
    const line = Buffer.from(encodeIdCommand('a1', [['X-ORIGINATING-IP', '192.0.2.1'], ['X-VIA', 'Mäil "client"\\/1.0,127.0.0.1(Postern)']])).toString('latin1');
    expect(line).toBe('a1 ID ("X-ORIGINATING-IP" "192.0.2.1" "X-VIA" "M?il ?client??/1.0,127.0.0.1(Postern)")\r\n');
  });
});
