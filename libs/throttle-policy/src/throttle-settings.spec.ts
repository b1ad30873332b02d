import { ConfigError } from '@postern/config';
import { describe, expect, it } from 'vitest';
import { resolveThrottleSettings } from './throttle-settings';

describe('resolveThrottleSettings', () => {
  it("starts from Zimbra's defaults: every limit off, fail open, the fetch timeout as the budget", () => {
    const { config } = resolveThrottleSettings({});
    expect(config.ip.imap).toEqual({ scope: 'any', limit: 0, windowMs: 3_600_000 });
    expect(config.user).toEqual({ limit: 0, windowMs: 3_600_000 });
    expect(config.userFailures).toEqual({ limit: 0, windowMs: 900_000 });
    expect(config.ipFailures).toEqual({ limit: 0, windowMs: 900_000 });
    expect(config.failClosed).toBe(false);
    expect(config.checkBudgetMs).toBe(3000);
    expect(config.ipMessage).toBe('Login rejected from this IP');
    expect(config.userMessage).toBe('Login rejected for this user');
  });

  it('gives a protocol its own counter and window only when its limit is above 0', () => {
    const { config } = resolveThrottleSettings({
      zimbraReverseProxyIPLoginLimit: 100,
      zimbraReverseProxyIPLoginLimitTime: 60,
      zimbraReverseProxyIPLoginImapLimit: '10',
      zimbraReverseProxyIPLoginImapLimitTime: '30',
      zimbraReverseProxyIPLoginPop3LimitTime: 5,
    });
    expect(config.ip.imap).toEqual({ scope: 'imap', limit: 10, windowMs: 30_000 });
    expect(config.ip.pop3).toEqual({ scope: 'any', limit: 100, windowMs: 60_000 });
    expect(config.ip.http).toEqual({ scope: 'any', limit: 100, windowMs: 60_000 });
  });

  it("reads Postern's own settings from the same attributes, names case-insensitive", () => {
    const { config, settings } = resolveThrottleSettings({
      PosternFailedLoginUserLimit: '5',
      posternFailedLoginIpLimit: 20,
      posternFailedLoginIpLimitTime: 60,
      posternThrottleFailClosed: 'TRUE',
    });
    expect(settings.posternFailedLoginUserLimit).toBe(5);
    expect(config.userFailures).toEqual({ limit: 5, windowMs: 900_000 });
    expect(config.ipFailures).toEqual({ limit: 20, windowMs: 60_000 });
    expect(config.failClosed).toBe(true);
  });

  it('names every invalid attribute at once, unknown names included', () => {
    let error: unknown;
    try {
      resolveThrottleSettings({
        zimbraReverseProxyIPLoginLimit: -1,
        posternFailedLoginUserLimitTime: 0,
        posternThrottleFailClosed: 'maybe',
        zimbraNoSuchThing: 1,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['zimbraReverseProxyIPLoginLimit', 'posternFailedLoginUserLimitTime', 'posternThrottleFailClosed', 'zimbraNoSuchThing'])
      expect(message).toContain(name);
  });

  it('refuses a whitelist entry that is not an address or a CIDR block', () => {
    expect(() => resolveThrottleSettings({ zimbraReverseProxyIPThrottleWhitelist: ['10.0.0.0/33'] })).toThrow(/zimbraReverseProxyIPThrottleWhitelist/);
    const { config } = resolveThrottleSettings({ zimbraReverseProxyIPThrottleWhitelist: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'] });
    expect(config.whitelist.matches('10.1.2.3')).toBe(true);
    expect(config.whitelist.matches('2001:db8:1::1')).toBe(true);
    expect(config.whitelist.matches('192.0.2.2')).toBe(false);
  });
});
