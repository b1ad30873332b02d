/**
 * mail-proxy: the IMAP, IMAPS, POP3 and POP3S frontend.
 * Configuration: POSTERN_* environment variables and Zimbra attributes (see README).
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
    process.stderr.write(`mail-proxy: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 1); // 78: EX_CONFIG (sysexits.h)
  }
  const logger = createLogger('mail-proxy', bootstrap.logLevel);
  try {
    await startService(AppModule.register(bootstrap, logger), { logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
  } catch (error) {
    logger.fatal({ err: error }, 'mail-proxy failed to start');
    process.exit(error instanceof ConfigError ? 78 : 1);
  }
}

void main();
