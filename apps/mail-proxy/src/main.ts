/**
 * mail-proxy: the IMAP, IMAPS, POP3 and POP3S frontend.
 * Configuration: POSTERN_* environment variables and the config file's `attributes` (see README);
 * SIGHUP re-reads the file.
 */
import 'reflect-metadata';
import { serviceMain } from '@postern/service-kit';
import { AppModule } from './app.module';

void serviceMain({ name: 'mail-proxy', module: (bootstrap, logger) => AppModule.register(bootstrap, logger) });
