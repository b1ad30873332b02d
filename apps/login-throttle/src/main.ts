/**
 * login-throttle: answers "may this client connect / this user log in?" over NATS, with counters
 * shared by every node in memcached. Configuration: POSTERN_* environment variables and the config
 * file's `attributes` (see README); SIGHUP re-reads the file.
 */
import 'reflect-metadata';
import { serviceMain } from '@postern/service-kit';
import { AppModule } from './app.module';

void serviceMain({ name: 'login-throttle', module: (bootstrap, logger) => AppModule.register(bootstrap, logger) });
