/**
 * route-lookup: answers "which mailbox server holds this user?" over NATS.
 * Configuration: POSTERN_* environment variables and the directory (see README).
 */
import { serviceMain } from '@postern/service-kit/main';
import { service } from './service';

void serviceMain(service);
