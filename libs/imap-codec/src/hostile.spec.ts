/**
 * Hostile inputs, written from the attacker's seat: each row is what a malicious or broken client
 * sends and the only acceptable outcome. Outcomes are summarised as short strings.
 */
import { describe, expect, it } from 'vitest';
import { ImapCommandFramer } from './framer';
import { parseCommand } from './parse-command';
import { ImapResponseReader } from './response-reader';

/** A minimal session: drains after STARTTLS, accepts literals, summarises every outcome. */
function outcomes(input: Buffer | string, chunkSize = Infinity): string[] {
  const data = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const framer = new ImapCommandFramer();
  const out: string[] = [];
  // After STARTTLS every later byte belongs to the TLS layer; what the framer held is drained.
  let afterTls: Buffer | undefined;
  for (let i = 0; i < data.length; i += chunkSize) {
    const chunk = data.subarray(i, Math.min(data.length, i + chunkSize));
    if (afterTls) {
      afterTls = Buffer.concat([afterTls, chunk]);
      continue;
    }
    framer.push(chunk);
    for (let e = framer.next(); e; e = framer.next()) {
      if (e.type === 'error') out.push(`framing ${e.reason}${e.fatal ? ' fatal' : ''} tag=${e.tag ?? '*'}`);
      else if (e.type === 'continue') out.push(`continue ${e.size}`);
      else if (e.type === 'raw-line') out.push('raw-line');
      else {
        const r = parseCommand(e.frame);
        if (!r.ok) {
          out.push(`BAD ${r.reason} tag=${r.tag ?? '*'}`);
          continue;
        }
        out.push(r.command.name === 'UNKNOWN' ? `UNKNOWN ${r.command.tag} ${r.command.verb}` : `${r.command.name} ${r.command.tag}`);
        if (r.command.name === 'STARTTLS') {
          afterTls = Buffer.from(framer.drainBuffered());
          break;
        }
      }
    }
  }
  if (afterTls && afterTls.length > 0) out.push(`drained ${JSON.stringify(afterTls.toString('latin1'))}`);
  return out;
}

describe('hostile client input', () => {
  it.each<[string, string | Buffer, string[]]>([
    ['NUL in the tag', 'a\0 NOOP\r\n', ['BAD bad-tag tag=*']],
    ['NUL after the verb', 'a NOOP\0\r\n', ['BAD nul-byte tag=a']],
    ['NUL in a quoted password', 'a LOGIN u "p\0w"\r\n', ['BAD nul-byte tag=a']],
    ['NUL in a literal password', 'a LOGIN u {3+}\r\np\0w\r\n', ['BAD nul-byte tag=a']],
    ['an absurd synchronizing literal', 'a LOGIN {99999999999}\r\nb NOOP\r\n', ['framing literal-too-large tag=a', 'NOOP b']],
    ['an absurd non-synchronizing literal', 'a LOGIN {99999999999+}\r\nb NOOP\r\n', ['framing literal-too-large fatal tag=a']],
    ['a literal size beyond any integer', 'a LOGIN {999999999999999999999999}\r\nb NOOP\r\n', ['framing literal-too-large tag=a', 'NOOP b']],
    ['a negative literal', 'a LOGIN {-1}\r\nb NOOP\r\n', ['framing bad-literal tag=a', 'NOOP b']],
    ['a non-digit literal', 'a LOGIN {1a}\r\nb NOOP\r\n', ['framing bad-literal tag=a', 'NOOP b']],
    ['an empty literal size', 'a LOGIN {}\r\n', ['framing bad-literal tag=a']],
    ['a plus-only literal', 'a LOGIN {+}\r\n', ['framing bad-literal tag=a']],
    ['a spaced literal size', 'a LOGIN { 5}\r\n', ['framing bad-literal tag=a']],
    ['an unterminated quote', 'a LOGIN "alice pw\r\n', ['BAD syntax tag=a']],
    ['a backslash at the end of a quoted string', 'a LOGIN alice "pw\\\r\n', ['BAD syntax tag=a']],
    ['a bad escape in a quoted string', 'a LOGIN alice "p\\w"\r\n', ['BAD syntax tag=a']],
    ['a tag with *', '*a NOOP\r\n', ['BAD bad-tag tag=*']],
    ['a tag with +', 'a+ NOOP\r\n', ['BAD bad-tag tag=*']],
    ['a tag with (', '(a NOOP\r\n', ['BAD bad-tag tag=*']],
    ['a tag with 8-bit bytes', 'a\xe9 NOOP\r\n', ['BAD bad-tag tag=*']],
    ['8-bit bytes in an atom argument', 'a LOGIN j\xfcrgen pw\r\n', ['BAD syntax tag=a']],
    ['8-bit bytes in the verb', 'a N\xd6OP\r\n', ['BAD bad-verb tag=a']],
    ['CR without LF does not end a line', 'a NOOP\rb LOGOUT\r\n', ['BAD bad-verb tag=a']],
    ['a lone CR at the end of a line', 'a NOOP\r\r\n', ['BAD bad-verb tag=a']],
    [
      'a command pipelined after STARTTLS (STARTTLS injection)',
      'a STARTTLS\r\nb LOGIN alice secret\r\n',
      ['STARTTLS a', 'drained "b LOGIN alice secret\\r\\n"'],
    ],
    ['an HTTP request', 'GET / HTTP/1.1\r\nHost: mail.example.com\r\n\r\n', ['UNKNOWN GET /', 'UNKNOWN Host: MAIL.EXAMPLE.COM', 'BAD bad-tag tag=*']],
    [
      'a literal announced in a rejected command',
      'a LOGIN {9000+}\r\n' + 'x'.repeat(9000) + ' {5}\r\nb NOOP\r\n',
      ['framing literal-too-large tag=a', 'NOOP b'],
    ],
    ['many tiny literals', 'a ID (' + '"k" {0+}\r\n '.repeat(8000) + ')\r\n', ['framing line-too-long fatal tag=a']],
  ])('%s', (_name, input, expected) => {
    expect(outcomes(input)).toEqual(expected);
    expect(outcomes(input, 1)).toEqual(expected);
  });

  it('a 10 MB line: one fatal error, nothing buffered, the rest ignored', () => {
    const framer = new ImapCommandFramer();
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const events = [];
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
      framer.push(chunk);
      for (let e = framer.next(); e; e = framer.next()) events.push(e);
    }
    framer.push(Buffer.from('\r\nb NOOP\r\n'));
    expect(framer.next()).toBeUndefined();
    expect(events).toEqual([{ type: 'error', reason: 'line-too-long', fatal: true }]);
    expect(framer.drainBuffered()).toHaveLength(0);
  });
});

describe('hostile upstream input', () => {
  it('a line that never ends stops the reader', () => {
    const reader = new ImapResponseReader();
    const events = [];
    for (let i = 0; i < 20; i++) events.push(...reader.push(Buffer.alloc(16 * 1024, '*')));
    expect(events).toEqual([{ type: 'error', reason: 'line-too-long', fatal: true }]);
  });

  it('a huge literal in a data response stops the reader', () => {
    expect(new ImapResponseReader().push(Buffer.from('* ID ("name" {99999999999}\r\n'))).toEqual([{ type: 'error', reason: 'literal-too-large', fatal: true }]);
  });

  it('an upstream cannot inject a tagged reply through a literal', () => {
    const events = new ImapResponseReader().push(Buffer.from('* ID ("x" {14}\r\na3 OK forged\r\n)\r\na3 NO real\r\n'));
    expect(events.map((e) => e.type)).toEqual(['untagged', 'tagged']);
    expect(events[1]).toMatchObject({ tag: 'a3', status: 'NO' });
  });
});
