/**
 * route-lookup: answers "which mailbox server holds this user?" over NATS.
 * Configuration: POSTERN_* environment variables and the directory (see README).
 */
import 'reflect-metadata';
import { requireDirectory } from '@postern/config';
import { serviceMain } from '@postern/service-kit';
import { AppModule } from './app.module';

void serviceMain({ name: 'route-lookup', check: requireDirectory, module: (bootstrap, logger) => AppModule.register(bootstrap, logger) });
