import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter';

describe('LogLimiter', () => {
  it('lets one line through per interval and says how many it left out', () => {
    let now = 1_000;
    const limiter = new LogLimiter(1_000, () => now);
    expect(limiter.take()).toBe(0);
    expect(limiter.take()).toBeUndefined();
    now += 999;
    expect(limiter.take()).toBeUndefined();
    now += 1;
    expect(limiter.take()).toBe(2);
    expect(limiter.take()).toBeUndefined();
  });
});
