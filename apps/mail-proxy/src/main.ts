/**
 * mail-proxy: the IMAP, IMAPS, POP3 and POP3S frontend, a worker process per core
 * (`POSTERN_WORKERS`, default auto) sharing the listeners.
 * Configuration: POSTERN_* environment variables and the config file's `attributes` (see README);
 * SIGHUP re-reads the file in every worker.
 */
import { serviceMain } from '@postern/service-kit/main';
import { service } from './service';

void serviceMain(service);
