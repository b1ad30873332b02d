import { describe, expect, it } from 'vitest';
import { PosternError } from './errors';
import { ThrottleCheckRequestSchema } from './throttle';

describe('throttle check contract', () => {
  it('needs a user for every kind after connect', () => {
    expect(ThrottleCheckRequestSchema.safeParse({ kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1' }).success).toBe(true);
    expect(ThrottleCheckRequestSchema.safeParse({ kind: 'pre-login', protocol: 'imap', clientIp: '192.0.2.1' }).success).toBe(false);
    expect(ThrottleCheckRequestSchema.safeParse({ kind: 'login-failed', protocol: 'pop3', clientIp: '192.0.2.1', user: 'bob@example.com' }).success).toBe(true);
  });
});

describe('PosternError', () => {
  it('keeps its code and cause, and knows which codes are temporary', () => {
    const cause = new Error('ECONNREFUSED');
    const error = new PosternError('UNAVAILABLE', 'directory down', { cause, retryAfterMs: 10 });
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.cause).toBe(cause);
    expect(error.temporary).toBe(true);
    expect(new PosternError('BAD_REQUEST', 'x').temporary).toBe(false);
  });
});
