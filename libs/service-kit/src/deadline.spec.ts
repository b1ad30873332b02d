import { ErrorCode } from '@postern/contracts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from './deadline';

describe('Deadline.run', () => {
  afterEach(() => vi.useRealTimers());

  it("settles with the work's value or error, and leaves no timer behind", async () => {
    vi.useFakeTimers();
    const deadline = new Deadline(1000);
    await expect(deadline.run('work', Promise.resolve(42))).resolves.toBe(42);
    await expect(deadline.run('work', Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with TIMEOUT when the work outlives the budget, and at once when the budget is spent', async () => {
    vi.useFakeTimers();
    const deadline = new Deadline(50);
    const racing = deadline.run('slow work', new Promise<never>(() => undefined));
    const caught = racing.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(50);
    expect(await caught).toMatchObject({ code: ErrorCode.Timeout, message: expect.stringContaining('slow work') as unknown });
    await expect(deadline.run('late work', Promise.resolve(1))).rejects.toMatchObject({ code: ErrorCode.Timeout });
  });
});
