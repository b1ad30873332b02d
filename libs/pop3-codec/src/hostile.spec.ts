/**
 * Hostile inputs, from the attacker's seat: what a malicious or broken peer sends, and the only
 * acceptable outcome.
 */
import { describe, expect, it } from 'vitest';
import { encodeMultiline } from './encode';
import { Pop3CommandFramer } from './framer';
import { parsePop3Command } from './parse-command';
import { Pop3ResponseReader } from './response-reader';

/** A minimal session: drains after STLS; summarises each outcome. */
function outcomes(input: string | Buffer, chunkSize = Infinity): string[] {
  const data = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const framer = new Pop3CommandFramer();
  const out: string[] = [];
  let afterTls: Buffer | undefined;
  for (let i = 0; i < data.length; i += chunkSize) {
    const chunk = data.subarray(i, Math.min(data.length, i + chunkSize));
    if (afterTls) {
      afterTls = Buffer.concat([afterTls, chunk]);
      continue;
    }
    framer.push(chunk);
    for (let e = framer.next(); e; e = framer.next()) {
      if (e.type !== 'line') {
        out.push(e.type === 'error' ? `framing ${e.reason}` : 'raw-line');
        continue;
      }
      const r = parsePop3Command(e.line);
      out.push(r.ok ? (r.command.name === 'UNKNOWN' ? `UNKNOWN ${r.command.keyword}` : r.command.name) : `-ERR ${r.reason}`);
      if (r.ok && r.command.name === 'STLS') {
        afterTls = Buffer.from(framer.drainBuffered());
        break;
      }
    }
  }
  if (afterTls && afterTls.length > 0) out.push(`drained ${JSON.stringify(afterTls.toString('latin1'))}`);
  return out;
}

describe('hostile client input', () => {
  it.each<[string, string | Buffer, string[]]>([
    ['NUL in a user name', 'USER al\0ice\r\n', ['-ERR bad-characters']],
    ['NUL in a password', 'PASS p\0w\r\n', ['-ERR bad-characters']],
    ['CR without LF does not end a line', 'USER alice\rPASS x\r\n', ['-ERR bad-characters']],
    ['a 10 MB line', Buffer.alloc(10 * 1024 * 1024, 'A'), ['framing line-too-long']],
    ['a 256-octet command', `USER ${'a'.repeat(249)}\r\nQUIT\r\n`, ['framing line-too-long']],
    ['8-bit bytes in the keyword', 'US\xc9R a\r\n', ['-ERR bad-keyword']],
    ['a tab between keyword and argument', 'USER\talice\r\n', ['-ERR bad-characters']],
    ['a command pipelined after STLS (STARTTLS injection)', 'STLS\r\nUSER alice\r\nPASS secret\r\n', ['STLS', 'drained "USER alice\\r\\nPASS secret\\r\\n"']],
    ['an HTTP request', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', ['UNKNOWN GET', '-ERR bad-keyword', '-ERR bad-keyword']],
    ['an IMAP client on the POP3 port', 'a1 LOGIN alice secret\r\n', ['UNKNOWN A1']],
    ['AUTH with a huge initial response', `AUTH PLAIN ${'A'.repeat(400)}\r\n`, ['framing line-too-long']],
  ])('%s', (_name, input, expected) => {
    expect(outcomes(input)).toEqual(expected);
    if (Buffer.byteLength(input) < 100_000) expect(outcomes(input, 1)).toEqual(expected);
  });
});

describe('hostile upstream input', () => {
  function all(reader: Pop3ResponseReader, input: string): string[] {
    reader.push(Buffer.from(input, 'latin1'));
    const out: string[] = [];
    for (let e = reader.next(); e; e = reader.next()) out.push(e.type === 'error' ? `error ${e.reason}` : e.type);
    return out;
  }

  it('a multi-line response that never ends is bounded', () => {
    const reader = new Pop3ResponseReader();
    reader.expectMultiline();
    expect(all(reader, `+OK\r\n${'CAPABILITY\r\n'.repeat(7000)}`)).toEqual(['error multiline-too-large']);
  });

  it('a dot-stuffed "." line inside CAPA does not end it early', () => {
    const reader = new Pop3ResponseReader();
    reader.expectMultiline();
    expect(all(reader, Buffer.from(encodeMultiline('x', ['.', 'TOP'])).toString('latin1'))).toEqual(['multiline']);
  });

  it('an upstream line that never ends stops the reader', () => {
    expect(all(new Pop3ResponseReader(), '+OK '.repeat(2000))).toEqual(['error line-too-long']);
  });
});
