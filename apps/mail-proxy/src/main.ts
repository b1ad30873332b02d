/**
 * mail-proxy: the IMAP, IMAPS, POP3 and POP3S frontend.
 * Configuration: POSTERN_* environment variables and the config file's `attributes` (see README);
 * SIGHUP re-reads the file.
 */
import 'reflect-metadata';
import { ConfigError, loadBootstrap } from '@postern/config';
import { serviceMain } from '@postern/service-kit';
import { AppModule } from './app.module';

void serviceMain({
  name: 'mail-proxy',
  load: () => loadBootstrap(),
  isConfigError: (error) => error instanceof ConfigError,
  module: (bootstrap, logger) => AppModule.register(bootstrap, logger),
});
