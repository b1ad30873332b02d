/**
 * config-watcher: watches the directory for config and routing changes, publishes them as events
 * on the JetStream stream POSTERN_CONFIG, keeps the effective config in the KV bucket
 * postern-config and drops the routes of accounts that moved.
 * Configuration: POSTERN_* environment variables (see README).
 */
import 'reflect-metadata';
import { requireDirectory } from '@postern/config';
import { serviceMain } from '@postern/service-kit';
import { AppModule } from './app.module';
import { loadWatcherOptions, type WatcherOptions } from './watcher-options';

let options: WatcherOptions;
void serviceMain({
  name: 'config-watcher',
  check: (bootstrap) => {
    requireDirectory(bootstrap);
    options = loadWatcherOptions();
  },
  module: (bootstrap, logger) => AppModule.register(bootstrap, logger, options),
});
