import { describe, expect, it } from 'vitest';
import { addCommand, casCommand, deleteCommand, exptime, getCommand, getsCommand, incrCommand, setCommand, assertValidKey } from './commands';
import { CacheArgumentError, CacheKeyError, CacheProtocolError } from './errors';
import type { Reply } from './reply-parser';

const NOW = Date.UTC(2025, 0, 1);
const THIRTY_DAYS = 30 * 24 * 3600;
const stored: Reply = { type: 'status', status: 'STORED' };

describe('key validation', () => {
  const valid = ['a', 'postern:v1:route:0123abcdef', 'A-Z_a.z:0-9', 'k'.repeat(250)];
  it.each(valid)('accepts %s', (key) => expect(() => assertValidKey(key)).not.toThrow());

  const invalid: unknown[] = ['', 'k'.repeat(251), 'a b', 'a\r\nset x 0 0 1', 'a\u0000', 'tab\t', 'é', 'semi;colon', 'slash/', 'at@x', 42, null];
  it.each(invalid)('rejects %j synchronously', (key) => {
    expect(() => assertValidKey(key)).toThrow(CacheKeyError);
    expect(() => getCommand(key as string)).toThrow(CacheKeyError);
    expect(() => setCommand(key as string, 'v', 0)).toThrow(CacheKeyError);
  });
});

describe('exptime', () => {
  it('keeps 0 (never expires) and relative TTLs up to 30 days', () => {
    expect(exptime(0, NOW)).toBe(0);
    expect(exptime(1, NOW)).toBe(1);
    expect(exptime(THIRTY_DAYS, NOW)).toBe(THIRTY_DAYS);
  });
  it('sends TTLs over 30 days as absolute unix time', () => {
    expect(exptime(THIRTY_DAYS + 1, NOW)).toBe(NOW / 1000 + THIRTY_DAYS + 1);
  });
  it.each([-1, 1.5, Number.NaN, Infinity])('rejects %s', (ttl) => expect(() => exptime(ttl, NOW)).toThrow(CacheArgumentError));
});

describe('encoding', () => {
  it('encodes storage commands with a length prefix, binary-safe', () => {
    const value = Buffer.from('a\r\nEND\r\n\u0000', 'latin1');
    expect(setCommand('k', value, 60, NOW).bytes).toEqual(Buffer.concat([Buffer.from(`set k 0 60 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    expect(addCommand('k', 'héllo', 0, NOW).bytes.toString('utf8')).toBe('add k 0 0 6\r\nhéllo\r\n');
    expect(casCommand('k', 'v', THIRTY_DAYS + 1, '99', NOW).bytes.toString()).toBe(`cas k 0 ${NOW / 1000 + THIRTY_DAYS + 1} 1 99\r\nv\r\n`);
    expect(getCommand('k').bytes.toString()).toBe('get k\r\n');
    expect(getsCommand('k').bytes.toString()).toBe('gets k\r\n');
    expect(incrCommand('k', 5).bytes.toString()).toBe('incr k 5\r\n');
    expect(deleteCommand('k').bytes.toString()).toBe('delete k\r\n');
  });

  it('caps values at 1 MiB', () => {
    expect(() => setCommand('k', Buffer.alloc(1024 * 1024), 0)).not.toThrow();
    expect(() => setCommand('k', Buffer.alloc(1024 * 1024 + 1), 0)).toThrow(CacheArgumentError);
  });

  it.each(['', '1 2', '-1', 'abc', '1'.repeat(21)])('rejects CAS token %j', (token) => {
    expect(() => casCommand('k', 'v', 0, token)).toThrow(CacheArgumentError);
  });

  it.each([-1, 1.5, Number.MAX_SAFE_INTEGER + 1])('rejects incr delta %s', (delta) => {
    expect(() => incrCommand('k', delta)).toThrow(CacheArgumentError);
  });
});

describe('reply interpretation', () => {
  it('maps replies to results', () => {
    expect(getCommand('k').interpret({ type: 'values', items: [] })).toEqual({ ok: true, value: null });
    expect(getCommand('k').interpret({ type: 'values', items: [{ key: 'k', flags: 0, value: Buffer.from('v'), cas: null }] })).toEqual({
      ok: true,
      value: Buffer.from('v'),
    });
    expect(getsCommand('k').interpret({ type: 'values', items: [{ key: 'k', flags: 0, value: Buffer.from('v'), cas: '7' }] })).toEqual({
      ok: true,
      value: { value: Buffer.from('v'), cas: '7' },
    });
    expect(addCommand('k', 'v', 0).interpret({ type: 'status', status: 'NOT_STORED' })).toEqual({ ok: true, value: false });
    expect(casCommand('k', 'v', 0, '1').interpret({ type: 'status', status: 'EXISTS' })).toEqual({ ok: true, value: 'exists' });
    expect(casCommand('k', 'v', 0, '1').interpret({ type: 'status', status: 'NOT_FOUND' })).toEqual({ ok: true, value: 'not_found' });
    expect(incrCommand('k', 1).interpret({ type: 'number', value: '12' })).toEqual({ ok: true, value: 12 });
    expect(incrCommand('k', 1).interpret({ type: 'status', status: 'NOT_FOUND' })).toEqual({ ok: true, value: null });
    expect(deleteCommand('k').interpret({ type: 'status', status: 'DELETED' })).toEqual({ ok: true, value: true });
  });

  it('refuses a value for another key and asks for a reset (the stream is out of step)', () => {
    const outcome = getCommand('k').interpret({ type: 'values', items: [{ key: 'other', flags: 0, value: Buffer.from('v'), cas: null }] });
    expect(outcome).toMatchObject({ ok: false, reset: true });
  });

  it('asks for a reset on a reply the command cannot produce, and on ERROR', () => {
    expect(getCommand('k').interpret(stored)).toMatchObject({ ok: false, reset: true });
    expect(setCommand('k', 'v', 0).interpret({ type: 'error', kind: 'ERROR', line: 'ERROR' })).toMatchObject({ ok: false, reset: true });
  });

  it('reports CLIENT_ERROR and SERVER_ERROR replies as protocol errors without a reset', () => {
    const outcome = incrCommand('k', 1).interpret({
      type: 'error',
      kind: 'CLIENT_ERROR',
      line: 'CLIENT_ERROR cannot increment or decrement non-numeric value',
    });
    expect(outcome).toMatchObject({ ok: false, reset: false });
    if (!outcome.ok) {
      expect(outcome.error).toBeInstanceOf(CacheProtocolError);
      expect(outcome.error.code).toBe('CACHE_PROTOCOL');
      expect(outcome.error.reply).toBe('CLIENT_ERROR cannot increment or decrement non-numeric value');
    }
  });
});
