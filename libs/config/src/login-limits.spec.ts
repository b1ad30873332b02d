import { describe, expect, it } from 'vitest';
import { ipLoginLimit } from './login-limits';
import { resolveSettings } from './resolve';

describe('ipLoginLimit', () => {
  it('gives a protocol its own limit when above 0, else the generic one with the shared counter', () => {
    const s = resolveSettings({
      overrides: {
        zimbraReverseProxyIPLoginLimit: 100,
        zimbraReverseProxyIPLoginLimitTime: 60,
        zimbraReverseProxyIPLoginImapLimit: 10,
        zimbraReverseProxyIPLoginImapLimitTime: 30,
      },
    });
    expect(ipLoginLimit(s, 'imap')).toEqual({ scope: 'imap', limit: 10, windowSeconds: 30 });
    expect(ipLoginLimit(s, 'pop3')).toEqual({ scope: 'any', limit: 100, windowSeconds: 60 });
    expect(ipLoginLimit(s, 'http')).toEqual({ scope: 'any', limit: 100, windowSeconds: 60 });
  });

  it('is off (0) for every protocol with Zimbra defaults', () => {
    const s = resolveSettings({});
    expect([ipLoginLimit(s, 'imap').limit, ipLoginLimit(s, 'pop3').limit, ipLoginLimit(s, 'http').limit]).toEqual([0, 0, 0]);
  });
});
