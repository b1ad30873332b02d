import { describe, expect, it } from 'vitest';
import { RouteMemo } from './route-memo';

describe('RouteMemo', () => {
  it('keeps an answer for its lifetime, negative ones too', () => {
    let now = 1000;
    const memo = new RouteMemo<string>(
      () => 5000,
      () => now,
    );
    memo.set('a', '127.0.0.2:8080');
    memo.set('b', undefined);
    expect(memo.get('a')).toEqual({ route: '127.0.0.2:8080', until: 6000 });
    expect(memo.get('b')).toMatchObject({ route: undefined });
    expect(memo.get('c')).toBeUndefined();
    now = 6000;
    expect(memo.get('a')).toBeUndefined();
    expect(memo.size).toBe(1);
  });

  it('forgets an entry at once when told', () => {
    const memo = new RouteMemo<string>(() => 5000);
    memo.set('a', '127.0.0.2:8080');
    memo.delete('a');
    expect(memo.get('a')).toBeUndefined();
  });

  it('keeps nothing when its lifetime is 0', () => {
    const memo = new RouteMemo<string>(() => 0);
    memo.set('a', 'x:1');
    expect(memo.get('a')).toBeUndefined();
  });
});
