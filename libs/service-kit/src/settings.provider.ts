/**
 * A service's effective settings as a provider: read at boot (an invalid config fails the start,
 * naming the attribute), re-read on SIGHUP and when the config bucket's layers change. A change that fails validation is refused and logged,
 * and the previous settings stay; listeners hear of every reload (metrics, derived state).
 */
import type { BeforeApplicationShutdown, FactoryProvider, InjectionToken, OnApplicationBootstrap } from '@nestjs/common';
import type { EffectiveSettings } from '@postern/config';
import { ConfigFeed } from '@postern/config-store';
import type { Logger } from './logger';
import { LOGGER } from './tokens';

/** How a reload ended: `ok`, or `refused` when the new config was invalid and the old one stayed. */
export type ReloadResult = 'ok' | 'refused';

export class ServiceSettings implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly listeners: ((result: ReloadResult, settings: EffectiveSettings) => void)[] = [];
  private readonly hangup = () => void this.reload();

  constructor(
    private value: EffectiveSettings,
    private readonly read: () => Promise<EffectiveSettings>,
    private readonly logger: Logger,
  ) {}

  /** The settings in effect now (hot settings are read from here on every use). */
  get current(): EffectiveSettings {
    return this.value;
  }

  /** Calls `listener` after every reload, with its result and the settings then in effect. */
  onReload(listener: (result: ReloadResult, settings: EffectiveSettings) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the settings; an invalid change is refused and the previous settings stay. */
  async reload(): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      this.value = await this.read();
      result = 'ok';
      this.logger.info('settings reloaded');
    } catch (error) {
      result = 'refused';
      this.logger.error({ err: error }, 'settings reload refused; keeping the previous settings');
    }
    for (const listener of this.listeners) listener(result, this.value);
    return result;
  }

  onApplicationBootstrap(): void {
    process.on('SIGHUP', this.hangup);
  }

  beforeApplicationShutdown(): void {
    process.off('SIGHUP', this.hangup);
  }
}

export interface SettingsProviderOptions<D extends unknown[]> {
  /** Providers `load` needs (the directory, for a service that reads its settings there). */
  readonly inject?: { [K in keyof D]: InjectionToken };
  /**
   * Reads and validates the settings, at boot, on every SIGHUP and on every change of the global
   * config or this node's server entry in the config bucket (`layers`: those two entries as the
   * config-watcher published them); throws on an invalid config.
   */
  readonly load: (layers: DirectoryLayers, ...deps: D) => Promise<EffectiveSettings> | EffectiveSettings;
}

/** The directory's layers of a node's settings: global config < its server entry. */
export type DirectoryLayers = ReturnType<ConfigFeed['sources']>;

/** The {@link ServiceSettings} provider of a service, from where it reads its settings. */
export function settingsProvider<D extends unknown[]>(options: SettingsProviderOptions<D>): FactoryProvider<Promise<ServiceSettings>> {
  return {
    provide: ServiceSettings,
    inject: [LOGGER, ConfigFeed, ...(options.inject ?? [])],
    useFactory: async (logger: Logger, feed: ConfigFeed, ...deps: unknown[]) => {
      const read = async () => options.load(feed.sources(), ...(deps as D));
      const settings = new ServiceSettings(await read(), read, logger);
      // A changed layer is applied like a SIGHUP: all or nothing, the previous settings kept when refused.
      feed.onChange(async (change) => !change.settings || (await settings.reload()) === 'ok');
      return settings;
    },
  };
}
