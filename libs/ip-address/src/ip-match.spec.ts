import { describe, expect, it } from 'vitest';
import { addressBytes, IpMatcher, subscriberAddress, unmapIpv4 } from './ip-match';

describe('IpMatcher', () => {
  const m = new IpMatcher(['192.0.2.0/24', '127.0.0.1', '2001:db8::/32']);
  it.each([
    ['192.0.2.77', true],
    ['192.0.3.1', false],
    ['127.0.0.1', true],
    ['::ffff:192.0.2.5', true],
    ['::FFFF:c000:205', true],
    ['0:0:0:0:0:ffff:c000:205', true],
    ['::ffff:c000:305', false],
    ['::ffff:7f00:1', true],
    ['2001:db8:1::5', true],
    ['2001:db9::1', false],
    ['not an ip', false],
  ])('%s → %s', (ip, expected) => {
    expect(m.matches(ip)).toBe(expected);
  });
  it('refuses malformed entries', () => {
    expect(() => new IpMatcher(['192.0.2.0/33'])).toThrow();
    expect(() => new IpMatcher(['example.com'])).toThrow();
  });
});

describe('unmapIpv4', () => {
  it.each([
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:c000:201', '192.0.2.1'],
    ['::0:ffff:c000:201', '192.0.2.1'],
    ['192.0.2.1', '192.0.2.1'],
    ['2001:db8::ffff:c000:201', '2001:db8::ffff:c000:201'],
    ['::1', '::1'],
  ])('%s → %s', (ip, expected) => {
    expect(unmapIpv4(ip)).toBe(expected);
  });
});

describe('subscriberAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:DB8:0:0:1:2:3:4', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['fe80:1:2:3:4:5:6:7', 'fe80:1:2:3::/64'],
  ])('%s → %s', (ip, expected) => {
    expect(subscriberAddress(ip)).toBe(expected);
  });
});

describe('addressBytes', () => {
  it.each([
    ['192.0.2.1', [192, 0, 2, 1]],
    ['::ffff:192.0.2.1', [192, 0, 2, 1]],
    ['::ffff:c000:201', [192, 0, 2, 1]],
    ['2001:db8::1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:DB8:0:0:0:0:0:1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['::', Array<number>(16).fill(0)],
    ['fe80::ab:cdef', [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0xef]],
    ['64:ff9b::192.0.2.33', [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33]],
    ['not an ip', []],
  ])('%s → %j', (ip, expected) => {
    expect(addressBytes(ip)).toEqual(expected);
  });
});
