import { resolveSettings, type EffectiveSettings } from '@postern/config';
import { describe, expect, it } from 'vitest';
import type { ConfigFeed, FeedChange } from '@postern/config-store';
import { createLogger } from './logger';
import { settingsProvider, type ReloadResult, ServiceSettings } from './settings.provider';

const silent = createLogger('test', 'silent');

/** The part of ConfigFeed the settings use: the node's layers, and word of a change. */
class FakeFeed {
  layers: ReturnType<ConfigFeed['sources']> = {};
  readonly listeners: ((change: FeedChange) => Promise<boolean> | boolean)[] = [];
  sources() {
    return this.layers;
  }
  onChange(listener: (change: FeedChange) => Promise<boolean> | boolean) {
    this.listeners.push(listener);
  }
  /** Tells every listener that this node's global config changed; true when all applied it. */
  async change(): Promise<boolean> {
    const change: FeedChange = { key: 'global', scope: 'global', entry: undefined, settings: true };
    const results: boolean[] = [];
    for (const listener of this.listeners) results.push(await listener(change));
    return results.every(Boolean);
  }
}

async function provide(load: (layers: ReturnType<ConfigFeed['sources']>) => EffectiveSettings, feed = new FakeFeed()): Promise<ServiceSettings> {
  const useFactory = settingsProvider({ load }).useFactory as (logger: unknown, feed: unknown) => Promise<ServiceSettings>;
  return useFactory(silent, feed);
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

  it("re-reads the settings when the node's layers in the config bucket change, all or nothing", async () => {
    const feed = new FakeFeed();
    const settings = await provide((layers) => resolveSettings({ ...layers, overrides: {} }), feed);
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(0);
    feed.layers = { global: { zimbraReverseProxyIPLoginLimit: ['7'] } };
    expect(await feed.change()).toBe(true);
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(7);
    feed.layers = { global: { zimbraReverseProxyIPLoginLimit: ['seven'] } };
    expect(await feed.change()).toBe(false);
    expect(settings.current.zimbraReverseProxyIPLoginLimit).toBe(7);
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
