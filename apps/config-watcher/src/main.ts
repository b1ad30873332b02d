/**
 * config-watcher: watches the directory for config and routing changes, publishes them as events
 * on the JetStream stream POSTERN_CONFIG, keeps the effective config in the KV bucket
 * postern-config and drops the routes of accounts that moved.
 * Configuration: POSTERN_* environment variables (see README).
 */
import { serviceMain } from '@postern/service-kit/main';
import { service } from './service';

void serviceMain(service);
