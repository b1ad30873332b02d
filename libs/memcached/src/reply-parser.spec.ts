import { describe, expect, it } from 'vitest';
import { CacheProtocolError } from './errors';
import { ReplyParser, type Reply } from './reply-parser';

const binary = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x45, 0x4e, 0x44, 0x0d, 0x0a]); // NUL, CRLF, 0xff, "END\r\n"

/** A transcript of server replies as the client would read them, and what they parse to. */
const transcript = Buffer.concat([
  Buffer.from('STORED\r\nNOT_STORED\r\nEND\r\nVALUE a:b 0 5\r\nhello\r\nEND\r\n'),
  Buffer.from(`VALUE bin 42 ${binary.length} 12345678901234567890\r\n`),
  binary,
  Buffer.from('\r\nEND\r\n18446744073709551615\r\nNOT_FOUND\r\nDELETED\r\nEXISTS\r\n'),
  Buffer.from('ERROR\r\nCLIENT_ERROR bad command line format\r\nSERVER_ERROR out of memory storing object\r\n'),
  Buffer.from('VALUE empty 0 0\r\n\r\nEND\r\n'),
]);

const expected: Reply[] = [
  { type: 'status', status: 'STORED' },
  { type: 'status', status: 'NOT_STORED' },
  { type: 'values', items: [] },
  { type: 'values', items: [{ key: 'a:b', flags: 0, value: Buffer.from('hello'), cas: null }] },
  { type: 'values', items: [{ key: 'bin', flags: 42, value: binary, cas: '12345678901234567890' }] },
  { type: 'number', value: '18446744073709551615' },
  { type: 'status', status: 'NOT_FOUND' },
  { type: 'status', status: 'DELETED' },
  { type: 'status', status: 'EXISTS' },
  { type: 'error', kind: 'ERROR', line: 'ERROR' },
  { type: 'error', kind: 'CLIENT_ERROR', line: 'CLIENT_ERROR bad command line format' },
  { type: 'error', kind: 'SERVER_ERROR', line: 'SERVER_ERROR out of memory storing object' },
  { type: 'values', items: [{ key: 'empty', flags: 0, value: Buffer.alloc(0), cas: null }] },
];

function parseInChunks(input: Buffer, cuts: number[]): Reply[] {
  const parser = new ReplyParser();
  const replies: Reply[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    replies.push(...parser.feed(input.subarray(start, cut)));
    start = cut;
  }
  expect(parser.idle).toBe(true);
  return replies;
}

describe('ReplyParser', () => {
  it('parses a whole transcript', () => {
    expect(parseInChunks(transcript, [])).toEqual(expected);
  });

  it('parses the transcript fed one byte at a time', () => {
    const cuts = Array.from({ length: transcript.length - 1 }, (_, i) => i + 1);
    expect(parseInChunks(transcript, cuts)).toEqual(expected);
  });

  it('parses the transcript split in two at every byte', () => {
    for (let cut = 0; cut <= transcript.length; cut++) {
      expect(parseInChunks(transcript, [cut])).toEqual(expected);
    }
  });

  it('emits nothing for a partial reply and keeps it for the next chunk', () => {
    const parser = new ReplyParser();
    expect(parser.feed(Buffer.from('VALUE k 0 3\r\nab'))).toEqual([]);
    expect(parser.idle).toBe(false);
    expect(parser.feed(Buffer.from('c\r\nEND\r\n'))).toEqual([{ type: 'values', items: [{ key: 'k', flags: 0, value: Buffer.from('abc'), cas: null }] }]);
  });

  it('copies values out of the read buffer', () => {
    const chunk = Buffer.from('VALUE k 0 3\r\nabc\r\nEND\r\n');
    const [reply] = new ReplyParser().feed(chunk);
    chunk.fill(0);
    expect(reply).toEqual({ type: 'values', items: [{ key: 'k', flags: 0, value: Buffer.from('abc'), cas: null }] });
  });

  it('ends a retrieval abandoned with SERVER_ERROR', () => {
    const parser = new ReplyParser();
    expect(parser.feed(Buffer.from('VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\nSTORED\r\n'))).toEqual([
      { type: 'error', kind: 'SERVER_ERROR', line: 'SERVER_ERROR out of memory writing get response' },
      { type: 'status', status: 'STORED' },
    ]);
  });

  const hostile: [string, string | Buffer, ReplyParser?][] = [
    ['bare LF', 'STORED\n'],
    ['unknown reply', 'HELLO\r\n'],
    ['status inside a retrieval', 'VALUE k 0 1\r\nx\r\nSTORED\r\n'],
    ['data not terminated by CRLF', 'VALUE k 0 1\r\nxy\r\n'],
    ['value longer than the cap', 'VALUE k 0 1048577\r\n'],
    ['value longer than a custom cap', 'VALUE k 0 11\r\n', new ReplyParser(10)],
    ['negative length', 'VALUE k 0 -1\r\n'],
    ['key with a space smuggled in', 'VALUE k x 0 1\r\n'],
    ['key with illegal bytes', 'VALUE k\u0001 0 1\r\n'],
    ['flags above 32 bits', 'VALUE k 4294967296 1\r\n'],
    ['non-numeric CAS', 'VALUE k 0 1 abc\r\n'],
    ['too many fields', 'VALUE k 0 1 2 3\r\n'],
    ['line too long without LF', Buffer.alloc(4096, 0x41)],
    ['line too long with LF', `${'A'.repeat(3000)}\r\n`],
    ['number with 21 digits', `${'9'.repeat(21)}\r\n`],
  ];
  it.each(hostile)('rejects %s', (_name, input, parser = new ReplyParser()) => {
    expect(() => parser.feed(Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1'))).toThrow(CacheProtocolError);
  });
});
