import { describe, expect, it } from 'vitest';
import { ImapCommandFramer, type ImapFramerEvent } from './framer';
import type { ImapFramerLimits } from './limits';

/** Plain-data view of an event, for comparison. */
function view(e: ImapFramerEvent): unknown {
  if (e.type === 'command') {
    return {
      type: 'command',
      tag: e.tag,
      segments: e.frame.segments.map((s) => Buffer.from(s).toString('latin1')),
      literals: e.frame.literals.map((l) => `${l.nonSync ? '+' : ''}${Buffer.from(l.bytes).toString('latin1')}`),
    };
  }
  if (e.type === 'raw-line') return { type: 'raw-line', line: Buffer.from(e.line).toString('latin1') };
  return e;
}

function drain(framer: ImapCommandFramer): unknown[] {
  const out: unknown[] = [];
  for (let e = framer.next(); e; e = framer.next()) out.push(view(e));
  return out;
}

function frame(input: string | Buffer, limits: Partial<ImapFramerLimits> = {}): unknown[] {
  const framer = new ImapCommandFramer(limits);
  framer.push(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  return drain(framer);
}

const cmd = (tag: string | undefined, segments: string[], literals: string[] = []) => ({ type: 'command', tag, segments, literals });

describe('ImapCommandFramer', () => {
  it.each<[string, string, unknown[]]>([
    ['a simple command', 'a1 CAPABILITY\r\n', [cmd('a1', ['a1 CAPABILITY'])]],
    [
      'pipelined commands, in order',
      'a1 NOOP\r\na2 CAPABILITY\r\na3 LOGOUT\r\n',
      [cmd('a1', ['a1 NOOP']), cmd('a2', ['a2 CAPABILITY']), cmd('a3', ['a3 LOGOUT'])],
    ],
    ['a bare LF line end', 'a1 NOOP\n', [cmd('a1', ['a1 NOOP'])]],
    ['an incomplete line: nothing yet', 'a1 NOO', []],
    ['an empty line', '\r\n', [cmd(undefined, [''])]],
    ['a synchronizing literal: continue first', 'a LOGIN {5}\r\n', [{ type: 'continue', tag: 'a', size: 5 }]],
    [
      'synchronizing literals, bytes pipelined',
      'a LOGIN {5}\r\nalice {3}\r\npwd\r\n',
      [{ type: 'continue', tag: 'a', size: 5 }, { type: 'continue', tag: 'a', size: 3 }, cmd('a', ['a LOGIN ', ' ', ''], ['alice', 'pwd'])],
    ],
    ['LITERAL+ literals: no continue', 'a LOGIN {5+}\r\nalice {3+}\r\npwd\r\n', [cmd('a', ['a LOGIN ', ' ', ''], ['+alice', '+pwd'])]],
    ['a literal containing CRLF and braces', 'a LOGIN u {5+}\r\n{1}\r\n\r\n', [cmd('a', ['a LOGIN u ', ''], ['+{1}\r\n'])]],
    ['an empty literal', 'a LOGIN {0+}\r\n {0+}\r\n\r\n', [cmd('a', ['a LOGIN ', ' ', ''], ['+', '+'])]],
    ['a {n} inside a quoted string is not a literal', 'a LOGIN u "p {5}"\r\n', [cmd('a', ['a LOGIN u "p {5}"'])]],
    ['a {n} after an escaped quote is inside the string', 'a LOGIN u "p\\" {5}"\r\n', [cmd('a', ['a LOGIN u "p\\" {5}"'])]],
    ['a {n} after an unterminated quote is not a literal', 'a LOGIN "u {5}\r\n', [cmd('a', ['a LOGIN "u {5}'])]],
    ['an invalid tag is reported as absent', '* LOGIN a b\r\n', [cmd(undefined, ['* LOGIN a b'])]],
  ])('%s', (_name, input, expected) => {
    expect(frame(input)).toEqual(expected);
  });

  describe('limits', () => {
    it('refuses an over-limit synchronizing literal without expecting its bytes', () => {
      expect(frame('a LOGIN {9000}\r\nb NOOP\r\n', { maxLiteralBytes: 8192 })).toEqual([
        { type: 'error', reason: 'literal-too-large', tag: 'a', fatal: false, size: 9000 },
        cmd('b', ['b NOOP']),
      ]);
    });

    it('discards an over-limit non-synchronizing literal and the rest of its command, then resyncs', () => {
      const input = Buffer.concat([Buffer.from('a LOGIN {9000+}\r\n'), Buffer.alloc(9000, 'x'), Buffer.from(' {3+}\r\npwd\r\nb NOOP\r\n')]);
      expect(frame(input)).toEqual([{ type: 'error', reason: 'literal-too-large', tag: 'a', fatal: false, size: 9000 }, cmd('b', ['b NOOP'])]);
    });

    it('a synchronizing literal after a discarded one ends the rejected command', () => {
      const input = Buffer.concat([Buffer.from('a LOGIN {9000+}\r\n'), Buffer.alloc(9000, 'x'), Buffer.from(' {3}\r\nb NOOP\r\n')]);
      expect(frame(input)).toEqual([{ type: 'error', reason: 'literal-too-large', tag: 'a', fatal: false, size: 9000 }, cmd('b', ['b NOOP'])]);
    });

    it('stops when the discard budget is exceeded', () => {
      expect(frame('a LOGIN {70000+}\r\n')).toEqual([{ type: 'error', reason: 'literal-too-large', tag: 'a', fatal: true, size: 70000 }]);
    });

    it('counts a literal against the whole-command limit', () => {
      expect(frame('a LOGIN {100}\r\n', { maxCommandBytes: 100 })).toEqual([{ type: 'error', reason: 'literal-too-large', tag: 'a', fatal: false, size: 100 }]);
    });

    it('stops on an over-long line, whole or incomplete, and ignores what follows', () => {
      const f = new ImapCommandFramer({ maxLineBytes: 10 });
      f.push(Buffer.from('tag1 NOOPNOOPNOOP'));
      expect(drain(f)).toEqual([{ type: 'error', reason: 'line-too-long', tag: 'tag1', fatal: true }]);
      f.push(Buffer.from('\r\nb NOOP\r\n'));
      expect(drain(f)).toEqual([]);
      expect(f.stopped).toBe(true);
      expect(frame('tag1 NOOPNOOP\r\n', { maxLineBytes: 10 })).toEqual([{ type: 'error', reason: 'line-too-long', tag: 'tag1', fatal: true }]);
    });

    it('accepts a line of exactly the limit', () => {
      expect(frame('a 12345678\r\n', { maxLineBytes: 10 })).toEqual([cmd('a', ['a 12345678'])]);
    });

    it('with allowBareLf false, a lone LF is data', () => {
      expect(frame('a NOOP\nb NOOP\r\n', { allowBareLf: false })).toEqual([cmd('a', ['a NOOP\nb NOOP'])]);
    });
  });

  describe('session hooks', () => {
    it('expectRawLine delivers the next line uninterpreted, then returns to commands', () => {
      const f = new ImapCommandFramer();
      f.push(Buffer.from('a AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3 {5}\r\nb NOOP\r\n'));
      expect(view(f.next()!)).toEqual(cmd('a', ['a AUTHENTICATE PLAIN']));
      f.expectRawLine();
      expect(drain(f)).toEqual([{ type: 'raw-line', line: 'AGFsaWNlAHB3 {5}' }, cmd('b', ['b NOOP'])]);
    });

    it('expectRawLine in the middle of a command is a bug', () => {
      const f = new ImapCommandFramer();
      f.push(Buffer.from('a LOGIN {5}\r\n'));
      f.next();
      expect(() => f.expectRawLine()).toThrow();
    });

    it('rejectLiteral drops the command; following bytes are a new command', () => {
      const f = new ImapCommandFramer();
      f.push(Buffer.from('a LOGIN {5}\r\n'));
      expect(f.next()).toEqual({ type: 'continue', tag: 'a', size: 5 });
      f.rejectLiteral();
      f.push(Buffer.from('b NOOP\r\n'));
      expect(drain(f)).toEqual([cmd('b', ['b NOOP'])]);
    });

    it('drainBuffered returns what was pipelined after STARTTLS, which is never framed', () => {
      const f = new ImapCommandFramer();
      f.push(Buffer.from('a STARTTLS\r\nb LOGIN alice secret\r\nc {5}\r\n'));
      expect(view(f.next()!)).toEqual(cmd('a', ['a STARTTLS']));
      expect(Buffer.from(f.drainBuffered()).toString()).toBe('b LOGIN alice secret\r\nc {5}\r\n');
      expect(f.next()).toBeUndefined();
      f.push(Buffer.from('d CAPABILITY\r\n'));
      expect(drain(f)).toEqual([cmd('d', ['d CAPABILITY'])]);
    });

    it('drainBuffered also forgets a partly framed command', () => {
      const f = new ImapCommandFramer();
      f.push(Buffer.from('a LOGIN {5}\r\nal'));
      f.next();
      f.next();
      expect(Buffer.from(f.drainBuffered()).toString()).toBe('');
      f.push(Buffer.from('b NOOP\r\n'));
      expect(drain(f)).toEqual([cmd('b', ['b NOOP'])]);
    });
  });
});
