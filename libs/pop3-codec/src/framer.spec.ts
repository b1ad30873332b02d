import { describe, expect, it } from 'vitest';
import { Pop3CommandFramer, type Pop3FramerEvent } from './framer';
import type { Pop3FramerLimits } from './limits';

const view = (e: Pop3FramerEvent) => (e.type === 'error' ? e : { type: e.type, line: Buffer.from(e.line).toString('latin1') });

function drain(f: Pop3CommandFramer): unknown[] {
  const out: unknown[] = [];
  for (let e = f.next(); e; e = f.next()) out.push(view(e));
  return out;
}

function frame(input: string, limits: Partial<Pop3FramerLimits> = {}): unknown[] {
  const f = new Pop3CommandFramer(limits);
  f.push(Buffer.from(input, 'latin1'));
  return drain(f);
}

const line = (l: string) => ({ type: 'line', line: l });
const tooLong = { type: 'error', reason: 'line-too-long', fatal: true };

describe('Pop3CommandFramer', () => {
  it.each<[string, string, unknown[]]>([
    ['one line', 'CAPA\r\n', [line('CAPA')]],
    ['pipelined lines, in order', 'USER alice\r\nPASS a b\r\nQUIT\r\n', [line('USER alice'), line('PASS a b'), line('QUIT')]],
    ['a bare LF', 'NOOP\n', [line('NOOP')]],
    ['an incomplete line', 'NOO', []],
    ['a line of exactly 255 octets with CRLF', `PASS ${'p'.repeat(248)}\r\n`, [line(`PASS ${'p'.repeat(248)}`)]],
    ['a line of 256 octets', `PASS ${'p'.repeat(249)}\r\n`, [tooLong]],
    ['an unterminated line over the limit', `PASS ${'p'.repeat(300)}`, [tooLong]],
  ])('%s', (_name, input, expected) => {
    expect(frame(input)).toEqual(expected);
  });

  it('the limit is configurable', () => {
    expect(frame(`PASS ${'p'.repeat(1000)}\r\n`, { maxLineBytes: 2048 })).toEqual([line(`PASS ${'p'.repeat(1000)}`)]);
  });

  it('with allowBareLf false, a lone LF is data', () => {
    expect(frame('NOOP\nQUIT\r\n', { allowBareLf: false })).toEqual([line('NOOP\nQUIT')]);
  });

  it('expectRawLine: the SASL response may exceed 255 octets', () => {
    const f = new Pop3CommandFramer();
    const b64 = 'A'.repeat(2000);
    f.push(Buffer.from(`AUTH PLAIN\r\n${b64}\r\nQUIT\r\n`));
    expect(view(f.next()!)).toEqual(line('AUTH PLAIN'));
    f.expectRawLine();
    expect(drain(f)).toEqual([{ type: 'raw-line', line: b64 }, line('QUIT')]);
  });

  it('drainBuffered returns what was pipelined after STLS', () => {
    const f = new Pop3CommandFramer();
    f.push(Buffer.from('STLS\r\nUSER alice\r\nPASS secret\r\n'));
    expect(view(f.next()!)).toEqual(line('STLS'));
    expect(Buffer.from(f.drainBuffered()).toString()).toBe('USER alice\r\nPASS secret\r\n');
    expect(f.next()).toBeUndefined();
  });

  it('stops after an over-long line', () => {
    const f = new Pop3CommandFramer();
    f.push(Buffer.alloc(300, 'x'));
    expect(drain(f)).toEqual([tooLong]);
    f.push(Buffer.from('\r\nQUIT\r\n'));
    expect(drain(f)).toEqual([]);
    expect(f.stopped).toBe(true);
  });
});
