import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBootstrap } from './bootstrap';
import { resolveSettings } from './resolve';

describe('GSSAPI settings', () => {
  it('off by default, as in Zimbra; the master user is zmnginx', () => {
    const s = resolveSettings({});
    expect(s.zimbraReverseProxyImapSaslGssapiEnabled).toBe(false);
    expect(s.zimbraReverseProxyPop3SaslGssapiEnabled).toBe(false);
    expect(s.posternMasterAuthUser).toBe('zmnginx');
    expect(s.posternKrb5ImapServicePrincipal).toBe('');
  });

  it('refuses a principal with white space and a master user without a name, naming the attribute', () => {
    expect(() => resolveSettings({ overrides: { posternKrb5ImapServicePrincipal: 'imap/ host' } })).toThrow(/posternKrb5ImapServicePrincipal/);
    expect(() => resolveSettings({ overrides: { posternMasterAuthUser: '' } })).toThrow(/posternMasterAuthUser/);
  });

  it('the master secret is a bootstrap value: from the environment or a file, never a directory setting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-master-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'master');
    writeFileSync(file, 'from-file\n');
    expect(loadBootstrap({}).masterAuthPassword).toBeUndefined();
    expect(loadBootstrap({ POSTERN_MASTER_AUTH_PASSWORD: 'from-env' }).masterAuthPassword).toBe('from-env');
    expect(loadBootstrap({ POSTERN_MASTER_AUTH_PASSWORD_FILE: file }).masterAuthPassword).toBe('from-file');
    expect(() => loadBootstrap({ POSTERN_MASTER_AUTH_PASSWORD_FILE: join(dir, 'missing') })).toThrow(/POSTERN_MASTER_AUTH_PASSWORD_FILE/);
    expect(() => resolveSettings({ overrides: { masterAuthPassword: 'x' } })).toThrow();
  });
});
