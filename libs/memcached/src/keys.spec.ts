import { describe, expect, it } from 'vitest';
import { assertValidKey } from './commands';
import { CacheKeyError } from './errors';
import { cacheKey } from './keys';

const KEY_SHAPE = /^postern:v1:[a-z][a-z0-9-]*:[0-9a-f]{64}$/;

describe('cacheKey', () => {
  it('builds namespace:v1:kind:sha256hex', () => {
    expect(cacheKey('route', ['imap', 'john@example.com'])).toMatch(KEY_SHAPE);
    expect(cacheKey('alias', ['x'], 'tenant-a')).toMatch(/^tenant-a:v1:alias:[0-9a-f]{64}$/);
  });

  it('is deterministic (every node builds the same key)', () => {
    expect(cacheKey('route', ['imap', 'john@example.com'])).toBe(cacheKey('route', ['imap', 'john@example.com']));
  });

  it('encodes parts unambiguously', () => {
    const pairs: [readonly (string | number)[], readonly (string | number)[]][] = [
      [
        ['a:b', 'c'],
        ['a', 'b:c'],
      ],
      [['a', 'b'], ['ab']],
      [['a,b'], ['a', 'b']],
      [['"a","b"'], ['a', 'b']],
      [[1], ['1']],
      [[''], []],
      [['', ''], ['']],
      [['\ud800'], ['\ufffd']],
    ];
    for (const [a, b] of pairs) expect(cacheKey('route', a)).not.toBe(cacheKey('route', b));
  });

  it('separates kinds and namespaces', () => {
    expect(cacheKey('route', ['x'])).not.toBe(cacheKey('route-id', ['x']));
    expect(cacheKey('route', ['x'])).not.toBe(cacheKey('route', ['x'], 'other'));
  });

  const hostile: [string, string][] = [
    ['CR LF', 'john\r\n'],
    ['spaces', 'john doe'],
    ['a smuggled command (CVE-2022-27924)', 'john\r\nset postern:v1:route:x 0 0 1\r\nX\r\n'],
    ['10 KB', 'x'.repeat(10 * 1024)],
    ['NUL', 'jo\u0000hn'],
    ['unicode', 'jöhn@exämple.com 👤'],
    ['a lone surrogate', '\udc00'],
    ['a memcached reply', 'VALUE k 0 1\r\nx\r\nEND'],
    ['control characters', '\u0001\u007f\u0085\u2028'],
  ];
  it.each(hostile)('hashes %s into a valid protocol key', (_name, part) => {
    const key = cacheKey('alias', ['unqualified', part, '10.0.0.1', '']);
    expect(key).toMatch(KEY_SHAPE);
    expect(() => assertValidKey(key)).not.toThrow();
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(250);
  });

  const badKinds = ['', 'Route', 'route:x', 'route x', 'r\r\n', 'x'.repeat(33), '1route'];
  it.each(badKinds)('rejects kind %j', (kind) => expect(() => cacheKey(kind, ['x'])).toThrow(CacheKeyError));

  const badNamespaces = ['', 'a:b', 'a b', 'n\r\n', 'x'.repeat(65)];
  it.each(badNamespaces)('rejects namespace %j', (ns) => expect(() => cacheKey('route', ['x'], ns)).toThrow(CacheKeyError));

  it.each([Number.NaN, Infinity, -Infinity])('rejects the number %s (JSON would turn it into null)', (n) => {
    expect(() => cacheKey('route', [n])).toThrow(CacheKeyError);
  });

  it('rejects non-string parts from untyped callers', () => {
    expect(() => cacheKey('route', [{} as unknown as string])).toThrow(CacheKeyError);
    expect(() => cacheKey('route', [null as unknown as string])).toThrow(CacheKeyError);
  });

  it('keeps the longest possible key within 250 bytes', () => {
    expect(Buffer.byteLength(cacheKey('k'.repeat(32), ['x'], 'n'.repeat(64)))).toBeLessThanOrEqual(250);
  });
});
