import { describe, expect, it } from 'vitest';
import { createPop3UpstreamReader } from './pop3-upstream-login';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('POP3 upstream reader', () => {
  it('reads the greeting and replies, and hands back what follows the last one', () => {
    const reader = createPop3UpstreamReader();
    expect(reader.push(bytes('+OK [XCLIENT] Dovecot ready.\r\n-ERR [AUTH] no\r\n+OK Logged in.\r\n+OK 2 m'))).toMatchObject([
      { type: 'ok', code: 'XCLIENT', text: 'Dovecot ready.' },
      { type: 'err', code: 'AUTH', text: 'no' },
      { type: 'ok', text: 'Logged in.' },
    ]);
    expect(Buffer.from(reader.drainBuffered()).toString('latin1')).toBe('+OK 2 m');
  });
});
