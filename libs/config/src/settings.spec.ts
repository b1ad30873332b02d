import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBootstrap, requireDirectory } from './bootstrap';
import { checkMailboxMailMode, checkProxyMailMode, ConfigError, resolveSettings } from './resolve';
import { parseDuration } from './setting';
import { Settings } from './settings';

describe('settings', () => {
  it("uses Zimbra's defaults when nothing is set", () => {
    const s = resolveSettings({});
    expect(s.zimbraReverseProxyCacheEntryTTL).toBe(3_600_000);
    expect(s.zimbraReverseProxyAuthWaitInterval).toBe(10_000);
    expect(s.zimbraReverseProxyRouteLookupTimeout).toBe(15_000);
    expect(s.zimbraReverseProxySSLToUpstreamEnabled).toBe(true);
    expect(s.zimbraReverseProxyImapStartTlsMode).toBe('only');
    expect(s.zimbraImapBindPort).toBe(7143);
    expect(s.zimbraReverseProxyIpThrottleMsg).toBe('Login rejected from this IP');
  });

  it('layers global < server < overrides, with case-insensitive attribute names', () => {
    const s = resolveSettings({
      global: { zimbraReverseProxyAuthWaitInterval: ['10s'], zimbraImapBindPort: ['1143'], zimbraSomethingElse: ['ignored'] },
      server: { zimbrareverseproxyauthwaitinterval: ['2s'] },
      overrides: { zimbraImapBindPort: 2143 },
    });
    expect(s.zimbraReverseProxyAuthWaitInterval).toBe(2000);
    expect(s.zimbraImapBindPort).toBe(2143);
  });

  it('names every invalid attribute and what it accepts, all at once', () => {
    let error: unknown;
    try {
      resolveSettings({
        global: { zimbraReverseProxySSLToUpstreamEnabled: ['yes'], zimbraImapBindPort: ['70000'], zimbraReverseProxyImapStartTlsMode: ['sometimes'] },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('zimbraReverseProxySSLToUpstreamEnabled: invalid value "yes"; accepted: TRUE or FALSE');
    expect(message).toContain('zimbraImapBindPort');
    expect(message).toContain('an integer from 1 to 65535');
    expect(message).toContain('one of only, on, off');
  });

  it('refuses unknown settings in the config file (typos)', () => {
    expect(() => resolveSettings({ overrides: { zimbraReverseProxyAuthWaitIntervall: '1s' } })).toThrow(/unknown setting/);
  });

  it('refuses a proxy mail mode the upstream scheme does not allow', () => {
    expect(() => resolveSettings({ global: { zimbraReverseProxySSLToUpstreamEnabled: ['FALSE'], zimbraReverseProxyMailMode: ['https'] } })).toThrow(
      /zimbraReverseProxyMailMode.*both, http/,
    );
  });

  it("turns bearer-token logins off by default and refuses the proxy's token check without an issuer and audience", () => {
    const s = resolveSettings({});
    expect([
      s.posternImapSaslOAuthBearerEnabled,
      s.posternImapSaslXOAuth2Enabled,
      s.posternPop3SaslOAuthBearerEnabled,
      s.posternPop3SaslXOAuth2Enabled,
    ]).toEqual([false, false, false, false]);
    expect(s.posternOAuthJwks).toBe('');
    expect(() => resolveSettings({ overrides: { posternOAuthJwks: '/etc/postern/jwks.json', posternOAuthIssuer: 'https://idp.test' } })).toThrow(
      /posternOAuthJwks: set without posternOAuthAudience/,
    );
    expect(() => resolveSettings({ overrides: { posternOAuthJwks: 'jwks.json' } })).toThrow(/posternOAuthJwks: invalid value/);
    const checked = resolveSettings({
      overrides: { posternOAuthJwks: 'https://idp.test/jwks', posternOAuthIssuer: 'https://idp.test', posternOAuthAudience: 'mail' },
    });
    expect(checked.posternOAuthAudience).toBe('mail');
  });

  it.each([
    [true, 'both', 'both', true],
    [true, 'https', 'https', true],
    [true, 'mixed', 'https', false],
    [true, 'redirect', 'https', true],
    [true, 'http', 'http', false],
    [false, 'http', 'http', true],
    [false, 'both', 'https', false],
  ])('mail modes: ssl=%s proxy=%s mailbox=%s allowed=%s', (ssl, proxy, mailbox, ok) => {
    expect(checkMailboxMailMode(ssl, proxy, mailbox) === undefined).toBe(ok);
  });

  it('checks the proxy side alone too', () => {
    expect(checkProxyMailMode(true, 'mixed')).toBeUndefined();
    expect(checkProxyMailMode(false, 'mixed')?.message).toMatch(/accepted/);
  });

  it('parses Zimbra durations into milliseconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('3600000ms')).toBe(3_600_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('15')).toBe(15_000);
    expect(parseDuration('10 s')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });

  it('describes every setting: attribute name, description, hot flag', () => {
    for (const [key, def] of Object.entries(Settings)) {
      expect(def.attribute).toBe(key);
      expect(def.description.length).toBeGreaterThan(5);
      expect(typeof def.hot).toBe('boolean');
    }
  });
});

describe('bootstrap', () => {
  it('reads the environment over the config file, and never needs a password in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'postern.json');
    writeFileSync(
      file,
      JSON.stringify({
        natsUrls: ['nats://10.0.0.1:4222'],
        memcachedServers: ['10.0.0.2:11211'],
        directoryLdif: '/x.ldif',
        attributes: { zimbraImapBindPort: 1143 },
      }),
    );
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 's3cret\n');
    const b = loadBootstrap({ POSTERN_CONFIG_FILE: file, POSTERN_MEMCACHED_SERVERS: '127.0.0.1:1,127.0.0.1:2', POSTERN_LDAP_BIND_PASSWORD_FILE: secretFile });
    expect(b.natsUrls).toEqual(['nats://10.0.0.1:4222']);
    expect(b.memcachedServers).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    expect(b.ldapBindPassword).toBe('s3cret');
    expect(b.attributes).toEqual({ zimbraImapBindPort: 1143 });
  });

  it('refuses bad bootstrap values with the variable named', () => {
    expect(() => loadBootstrap({ POSTERN_DIRECTORY_LDIF: '/x', POSTERN_NATS_URLS: 'http://x' })).toThrow(/POSTERN_NATS_URLS/);
    expect(() => loadBootstrap({ POSTERN_DIRECTORY_LDIF: '/x', POSTERN_HTTP_PORT: '99999' })).toThrow(/POSTERN_HTTP_PORT/);
    expect(() => requireDirectory(loadBootstrap({}))).toThrow(/POSTERN_LDAP_URLS or POSTERN_DIRECTORY_LDIF/);
    expect(() => loadBootstrap({ POSTERN_TLS_CERT_FILE: '/c.pem' })).toThrow(/set both or neither/);
    expect(() => loadBootstrap({ POSTERN_UPSTREAM_TLS_VERIFY: 'maybe' })).toThrow(/POSTERN_UPSTREAM_TLS_VERIFY/);
    expect(() => loadBootstrap({ POSTERN_WORKERS: '0' })).toThrow(/POSTERN_WORKERS: invalid value "0"; accepted: auto/);
    expect(() => loadBootstrap({ POSTERN_WORKERS: 'many' })).toThrow(/POSTERN_WORKERS/);
  });

  it('runs a worker per core unless told a number', () => {
    expect(loadBootstrap({}).workers).toBe(availableParallelism());
    expect(loadBootstrap({ POSTERN_WORKERS: 'auto' }).workers).toBe(availableParallelism());
    expect(loadBootstrap({ POSTERN_WORKERS: '3' }).workers).toBe(3);
  });
});
