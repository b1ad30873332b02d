import { resolveSettings, type EffectiveSettings } from '@postern/config';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';
import { settingsProvider, type ReloadResult, ServiceSettings } from './settings.provider';

const silent = createLogger('test', 'silent');

async function provide(load: () => EffectiveSettings): Promise<ServiceSettings> {
  return settingsProvider({ load }).useFactory(silent);
}

describe('ServiceSettings', () => {
  it('reads the settings at boot, and again on reload', async () => {
    let limit = 10;
    const settings = await provide(() => resolveSettings({ overrides: { zimbraReverseProxyIPLoginLimit: limit } }));
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(10);
    limit = 20;
    expect(await settings.reload()).toBe('ok');
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(20);
  });

  it('refuses an invalid change, keeps the previous settings and tells its listeners', async () => {
    let limit: unknown = 10;
    const settings = await provide(() => resolveSettings({ overrides: { zimbraReverseProxyIPLoginLimit: limit } }));
    const heard: [ReloadResult, number][] = [];
    settings.onReload((result, s) => heard.push([result, s.zimbraReverseProxyIPLoginLimit]));
    limit = 'lots';
    expect(await settings.reload()).toBe('refused');
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(10);
    expect(heard).toEqual([['refused', 10]]);
  });

  it('fails the start on an invalid config at boot', async () => {
    await expect(provide(() => resolveSettings({ overrides: { zimbraReverseProxyIPLoginLimit: -1 } }))).rejects.toThrow(/zimbraReverseProxyIPLoginLimit/);
  });

  it('reloads on SIGHUP between bootstrap and shutdown only', async () => {
    let reads = 0;
    const settings = await provide(() => (reads++, resolveSettings({})));
    const reloaded = new Promise<ReloadResult>((resolve) => settings.onReload(resolve));
    settings.onApplicationBootstrap();
    process.kill(process.pid, 'SIGHUP');
    expect(await reloaded).toBe('ok');
    settings.beforeApplicationShutdown();
    expect(process.listenerCount('SIGHUP')).toBe(0);
    expect(reads).toBe(2);
  });
});
