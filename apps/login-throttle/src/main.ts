/**
 * login-throttle: answers "may this client connect / this user log in?" over NATS, with counters
 * shared by every node in memcached. Configuration: POSTERN_* environment variables and the config
 * file's `attributes` (see README); SIGHUP re-reads the file.
 */
import { serviceMain } from '@postern/service-kit/main';
import { service } from './service';

void serviceMain(service);
