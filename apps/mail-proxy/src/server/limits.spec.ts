import { LoginSchema } from '@postern/contracts';
import { describe, expect, it } from 'vitest';
import { Limits } from './limits';

describe('Limits.loginBytes', () => {
  it('is the contracts login cap: the longest name the frontend lets through is one the lookup takes, one byte more is refused by both', () => {
    expect(LoginSchema.safeParse('a'.repeat(Limits.loginBytes)).success).toBe(true);
    expect(LoginSchema.safeParse('a'.repeat(Limits.loginBytes + 1)).success).toBe(false);
  });
});
