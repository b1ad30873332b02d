/** The config-watcher as a service (its module is imported only when it runs). */
import { requireDirectory } from '@postern/config';
import type { ServiceMainOptions } from '@postern/service-kit/main';
import { loadWatcherOptions, type WatcherOptions } from './watcher-options';

let options: WatcherOptions | undefined;

export const service: ServiceMainOptions = {
  name: 'config-watcher',
  check: (bootstrap) => {
    requireDirectory(bootstrap);
    options = loadWatcherOptions();
  },
  module: async (bootstrap, logger) => (await import('./app.module.js')).AppModule.register(bootstrap, logger, options ?? loadWatcherOptions()),
};
