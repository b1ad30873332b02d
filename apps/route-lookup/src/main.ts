/**
 * route-lookup: answers "which mailbox server holds this user?" over NATS.
 * Configuration: POSTERN_* environment variables and the directory (see README).
 */
import 'reflect-metadata';
import { ConfigError, loadBootstrap, requireDirectory } from '@postern/config';
import { createLogger, startService } from '@postern/service-kit';
import { AppModule } from './app.module';

async function main(): Promise<void> {
  let bootstrap;
  try {
    bootstrap = loadBootstrap();
    requireDirectory(bootstrap);
  } catch (error) {
    process.stderr.write(`route-lookup: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 1); // 78: EX_CONFIG (sysexits.h)
  }
  const logger = createLogger('route-lookup', bootstrap.logLevel);
  try {
    await startService(AppModule.register(bootstrap, logger), { logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
  } catch (error) {
    logger.fatal({ err: error }, 'route-lookup failed to start');
    logger.flush?.();
    process.exit(error instanceof ConfigError ? 78 : 1);
  }
}

void main();
