import { describe, expect, it } from 'vitest';
import { isLogin, LoginSchema, MAX_LOGIN_LENGTH } from './common';

describe('isLogin', () => {
  it('accepts exactly what LoginSchema accepts', () => {
    const samples: unknown[] = [
      'alice@example.com',
      'bob',
      'Zoë@exämple.org',
      'a',
      '',
      ' alice',
      'alice ',
      '\talice',
      'al ice',
      'ali\u0000ce',
      'ali\rce',
      'ali\u007fce',
      'ali\u0085ce',
      'ali\u00a0',
      '\u2028alice',
      'a'.repeat(MAX_LOGIN_LENGTH),
      'a'.repeat(MAX_LOGIN_LENGTH + 1),
      '😀'.repeat(MAX_LOGIN_LENGTH / 2),
      '😀'.repeat(MAX_LOGIN_LENGTH / 2 + 1),
      '😀'.repeat(MAX_LOGIN_LENGTH),
      '😀'.repeat(MAX_LOGIN_LENGTH + 1),
      '\ud83d'.repeat(MAX_LOGIN_LENGTH + 1),
      42,
      null,
      undefined,
      ['alice'],
    ];
    for (const sample of samples) expect([sample, isLogin(sample)]).toEqual([sample, LoginSchema.safeParse(sample).success]);
    expect(samples.filter((s) => isLogin(s))).toHaveLength(9);
  });
});
