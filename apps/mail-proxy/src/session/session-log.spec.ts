import { describe, expect, it } from 'vitest';
import { ClientNoticeLimiter } from './session-log';

describe('client notices', () => {
  it('logs a few lines per address per window, says when it holds the rest back, and starts again next window', () => {
    const limiter = new ClientNoticeLimiter(3, 60_000);
    const verdicts = Array.from({ length: 5 }, () => limiter.admit('192.0.2.1', 1000));
    expect(verdicts).toEqual(['log', 'log', 'last', 'drop', 'drop']);
    expect(limiter.admit('192.0.2.2', 1000)).toBe('log');
    expect(limiter.admit('192.0.2.1', 61_000)).toBe('log');
  });

  it('forgets every address when its table is full, so a spray of addresses costs bounded memory', () => {
    const limiter = new ClientNoticeLimiter(1, 60_000, 2);
    expect(limiter.admit('a', 0)).toBe('last');
    expect(limiter.admit('b', 0)).toBe('last');
    expect(limiter.admit('c', 0)).toBe('last');
    expect(limiter.admit('a', 0)).toBe('last');
  });
});
