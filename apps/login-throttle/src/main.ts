/**
 * login-throttle: answers "may this client connect / this user log in?" over NATS, with counters
 * shared by every node in memcached. Configuration: POSTERN_* environment variables and the config
 * file's `attributes` (see README); SIGHUP re-reads the file.
 */
import 'reflect-metadata';
import { ConfigError, loadBootstrap } from '@postern/config';
import { createLogger, startService } from '@postern/service-kit';
import { AppModule } from './app.module';

async function main(): Promise<void> {
  let bootstrap;
  try {
    bootstrap = loadBootstrap();
  } catch (error) {
    process.stderr.write(`login-throttle: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 1); // 78: EX_CONFIG (sysexits.h)
  }
  const logger = createLogger('login-throttle', bootstrap.logLevel);
  try {
    await startService(AppModule.register(bootstrap, logger), { logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
  } catch (error) {
    logger.fatal({ err: error }, 'login-throttle failed to start');
    logger.flush?.();
    process.exit(error instanceof ConfigError ? 78 : 1);
  }
}

void main();
