import { describe, expect, it } from 'vitest';
import { cachedMatcher } from './cached-matcher';

describe('cachedMatcher', () => {
  it('matches what the list says now', () => {
    let list: readonly string[] = [];
    const matcher = cachedMatcher(() => list);
    expect(matcher().matches('192.0.2.1')).toBe(false);
    list = ['192.0.2.0/24'];
    expect(matcher().matches('192.0.2.1')).toBe(true);
    expect(matcher().matches('::ffff:192.0.2.1')).toBe(true);
    list = ['2001:db8::/32'];
    expect(matcher().matches('192.0.2.1')).toBe(false);
    expect(matcher().matches('2001:db8::1')).toBe(true);
  });

  it('compiles again only when the list changes', () => {
    let list: readonly string[] = ['192.0.2.0/24'];
    const matcher = cachedMatcher(() => list);
    const first = matcher();
    expect(matcher()).toBe(first);
    list = ['192.0.2.0/24'];
    expect(matcher()).toBe(first);
    list = ['192.0.2.0/24', '198.51.100.7'];
    const second = matcher();
    expect(second).not.toBe(first);
    expect(second.matches('198.51.100.7')).toBe(true);
    expect(matcher()).toBe(second);
  });

  it('throws on a malformed entry, and reads the list again on the next call', () => {
    let list: readonly string[] = ['not an address'];
    const matcher = cachedMatcher(() => list);
    expect(() => matcher()).toThrow(/not an IP address/);
    list = ['192.0.2.1'];
    expect(matcher().matches('192.0.2.1')).toBe(true);
  });
});
