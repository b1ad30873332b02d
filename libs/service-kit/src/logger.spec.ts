import { describe, expect, it } from 'vitest';
import { shortId } from './logger';

describe('shortId', () => {
  it('gives ids of the asked length from its alphabet, distinct across pool refills', () => {
    const ids = Array.from({ length: 2000 }, () => shortId(10));
    expect(ids.every((id) => /^[a-km-np-z2-9]{10}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(shortId(20)).toHaveLength(20);
    expect(shortId(5000)).toHaveLength(5000);
  });
});
