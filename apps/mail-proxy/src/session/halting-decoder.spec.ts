/**
 * The client side of both protocols as the sessions build it: a codec framer, its inputs, and the
 * halt after a command that changes how the next bytes are read.
 */
import { ImapCommandFramer, imapInputHalts, toImapClientInput, type ImapClientInput } from '@postern/imap-codec';
import { Pop3CommandFramer, pop3InputHalts, toPop3ClientInput, type Pop3ClientInput } from '@postern/pop3-codec';
import { decodeSaslPlain } from '@postern/sasl';
import { describe, expect, it } from 'vitest';
import { haltingDecoder } from './halting-decoder';
import { Limits } from '../server/limits';

const bytes = (text: string) => Buffer.from(text, 'latin1');
const imapDecoder = () =>
  haltingDecoder(
    new ImapCommandFramer({ maxLineBytes: Limits.preAuthLineBytes, maxLiteralBytes: Limits.preAuthLiteralBytes }),
    toImapClientInput,
    imapInputHalts,
  );
const pop3Decoder = () => haltingDecoder(new Pop3CommandFramer({ maxLineBytes: Limits.passwordBytes + 16 }), toPop3ClientInput, pop3InputHalts);
const kinds = (inputs: ImapClientInput[]) => inputs.map((i) => (i.kind === 'command' ? `${i.command.tag} ${i.command.name}` : i.kind));
const pop3Kinds = (inputs: Pop3ClientInput[]) => inputs.map((i) => (i.kind === 'command' ? i.command.name : i.kind));

describe('IMAP client decoder', () => {
  it('answers pipelined commands in order', () => {
    const decoder = imapDecoder();
    expect(kinds(decoder.push(bytes('a NOOP\r\nb CAPABILITY\r\nc SELECT INBOX\r\n')))).toEqual(['a NOOP', 'b CAPABILITY', 'c UNKNOWN']);
  });

  it('halts after STARTTLS: what follows is left raw, to be discarded', () => {
    const decoder = imapDecoder();
    expect(kinds(decoder.push(bytes('a STARTTLS\r\nb LOGIN evil pw\r\n')))).toEqual(['a STARTTLS']);
    expect(decoder.push(bytes('c NOOP\r\n'))).toEqual([]);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('b LOGIN evil pw\r\nc NOOP\r\n');
    expect(decoder.resume()).toEqual([]);
  });

  it('halts after LOGIN: bytes pipelined after it stay raw for the upstream; resume() goes on after a failure', () => {
    const decoder = imapDecoder();
    const first = decoder.push(bytes('a LOGIN bob secret\r\nb SELECT INBOX\r\n'));
    expect(kinds(first)).toEqual(['a LOGIN']);
    const login = first[0]!;
    expect(login.kind === 'command' && login.command.name === 'LOGIN' && login.command.userid).toBe('bob');
    expect(kinds(decoder.resume())).toEqual(['b UNKNOWN']);
  });

  it('AUTHENTICATE without an initial response: the next line is a SASL response, never a command', () => {
    const decoder = imapDecoder();
    expect(kinds(decoder.push(bytes('a AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n')))).toEqual(['a AUTHENTICATE']);
    const [line] = decoder.expectSaslLine();
    expect(line).toMatchObject({ kind: 'sasl-line', response: { kind: 'response' } });
    const response = line?.kind === 'sasl-line' && line.response.kind === 'response' ? line.response.base64 : undefined;
    const decoded = decodeSaslPlain(response!);
    expect(decoded).toMatchObject({ ok: true, credentials: { authzid: '', authcid: 'bob' } });
    expect(decoded.ok && decoded.credentials.password.reveal()).toBe('secret');
    expect(String(response)).toBe('[redacted]');
  });

  it('asks for a synchronizing literal, then frames the command', () => {
    const decoder = imapDecoder();
    expect(kinds(decoder.push(bytes('a LOGIN {3}\r\n')))).toEqual(['continue']);
    expect(kinds(decoder.push(bytes('bob secret\r\n')))).toEqual(['a LOGIN']);
  });

  it('recognises an HTTP request line and stops there', () => {
    const decoder = imapDecoder();
    expect(kinds(decoder.push(bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n')))).toEqual(['http']);
  });

  it('reports an over-long line as a fatal limit', () => {
    const decoder = imapDecoder();
    const [input] = decoder.push(bytes(`a LOGIN ${'x'.repeat(9000)}`));
    expect(input).toMatchObject({ kind: 'limit', limit: 'line-too-long', fatal: true });
  });
});

describe('POP3 client decoder', () => {
  it('decodes pipelined commands until one that changes the stream', () => {
    const decoder = pop3Decoder();
    expect(pop3Kinds(decoder.push(bytes('CAPA\r\nUSER bob\r\nPASS secret\r\nSTAT\r\n')))).toEqual(['CAPA', 'USER', 'PASS']);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('STAT\r\n');
  });

  it('halts after STLS: plaintext after it is never decoded', () => {
    const decoder = pop3Decoder();
    expect(pop3Kinds(decoder.push(bytes('STLS\r\nUSER evil\r\n')))).toEqual(['STLS']);
    expect(Buffer.from(decoder.drainBuffered()).toString('latin1')).toBe('USER evil\r\n');
  });

  it('AUTH PLAIN without an initial response reads the next line as the SASL response', () => {
    const decoder = pop3Decoder();
    expect(pop3Kinds(decoder.push(bytes('AUTH PLAIN\r\n*\r\n')))).toEqual(['AUTH']);
    expect(decoder.expectSaslLine()).toEqual([{ kind: 'sasl-line', response: { kind: 'abort' } }]);
    expect(decoder.resume()).toEqual([]);
  });

  it('takes a PASS longer than RFC 2449 lines (passwords up to the proxy limit)', () => {
    const decoder = pop3Decoder();
    const [pass] = decoder.push(bytes(`PASS ${'p'.repeat(600)}\r\n`));
    expect(pass).toMatchObject({ kind: 'command', command: { name: 'PASS' } });
    expect(pass!.kind === 'command' && pass!.command.name === 'PASS' && pass!.command.password.byteLength).toBe(600);
  });

  it('recognises an HTTP request, and refuses control characters', () => {
    expect(pop3Kinds(pop3Decoder().push(bytes('POST /x HTTP/1.1\r\n')))).toEqual(['http']);
    expect(pop3Decoder().push(bytes('US\x01ER bob\r\n'))).toEqual([{ kind: 'bad', reason: 'bad-characters' }]);
  });
});
