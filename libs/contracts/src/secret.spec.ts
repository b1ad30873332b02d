import { describe, expect, it } from 'vitest';
import { secret } from './secret';

describe('secret', () => {
  it('keeps a copy of its bytes and hands out copies, so no one outside can change it', () => {
    const given = Buffer.from('pässword', 'utf8');
    const value = secret(given);
    given.fill(0);
    const out = value.bytes();
    expect(Buffer.from(out).toString('utf8')).toBe('pässword');
    out.fill(0);
    expect(value.reveal()).toBe('pässword');
    expect(value.byteLength).toBe(9);
    expect(Buffer.isBuffer(value.bytes())).toBe(false);
    expect([String(value), JSON.stringify({ value })]).toEqual(['[redacted]', '{"value":"[redacted]"}']);
  });
});
