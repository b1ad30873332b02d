/**
 * Starting a Postern service the same way everywhere: load and check the bootstrap config (exit
 * 78, EX_CONFIG, on a bad one), create the Nest application of the service's module, serve
 * /metrics and /health, and let Nest's shutdown hooks run the ordered stop on SIGTERM and SIGINT.
 * A service that runs a worker per core (`workers: true`) does that in each worker, and its
 * primary serves /metrics and /health for all of them (cluster.ts).
 */
import cluster from 'node:cluster';
import type { AddressInfo, Server } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, LoggerService } from '@nestjs/common';
import { ConfigError, loadBootstrap, type BootstrapConfig } from '@postern/config';
import { joinCluster, runClusterPrimary, workerIndex } from './cluster';
import { HealthChecks } from './health';
import { createLogger, type Logger } from './logger';
import { METRICS_REGISTRY } from './tokens';
import type { Registry } from 'prom-client';

/** Routes Nest's own log lines into pino (its chatter at debug level). */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}

export interface RunningService {
  readonly app: INestApplication;
  /** The port /metrics and /health listen on (useful when configured as 0). */
  readonly httpPort: number;
}

/**
 * Creates the Nest application for `module` and listens on host:port; SIGTERM and SIGINT stop it.
 * In a cluster worker it serves no HTTP (the primary does) and SIGINT is the primary's to act on.
 */
export async function startService(module: DynamicModule, options: { logger: Logger; httpHost: string; httpPort: number }): Promise<RunningService> {
  const app = await NestFactory.create(module, { logger: new PinoNestLogger(options.logger), abortOnError: false });
  // process.exit() after the hooks (rather than re-raising the signal) lets pino flush its last lines.
  if (cluster.isWorker) {
    app.enableShutdownHooks(['SIGTERM'], { useProcessExit: true });
    process.on('SIGINT', () => undefined);
    await app.init();
    const checks = app.get(HealthChecks);
    joinCluster(app.get<Registry>(METRICS_REGISTRY), () => checks.run());
    options.logger.info('worker ready');
    return { app, httpPort: 0 };
  }
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen(options.httpPort, options.httpHost);
  const address = (app.getHttpServer() as Server).address() as AddressInfo | null;
  const httpPort = address?.port ?? options.httpPort;
  options.logger.info({ httpHost: options.httpHost, httpPort }, 'service ready');
  return { app, httpPort };
}

/** What a service's `main` says about itself. */
export interface ServiceMainOptions {
  readonly name: string;
  /** Checks beyond the bootstrap config's own (throws ConfigError), e.g. that a directory is named. */
  readonly check?: (bootstrap: BootstrapConfig) => void;
  /** The service's root module. */
  readonly module: (bootstrap: BootstrapConfig, logger: Logger) => DynamicModule;
  /** Runs `bootstrap.workers` worker processes sharing the service's listeners (a frontend's choice). */
  readonly workers?: boolean;
}

/** Loads the bootstrap config, creates the logger and starts the service; exits on failure. */
export async function serviceMain(options: ServiceMainOptions): Promise<void> {
  const exitCode = (error: unknown) => (error instanceof ConfigError ? 78 : 1); // 78: EX_CONFIG (sysexits.h)
  let bootstrap: BootstrapConfig;
  try {
    bootstrap = loadBootstrap();
    options.check?.(bootstrap);
  } catch (error) {
    process.stderr.write(`${options.name}: ${(error as Error).message}\n`);
    process.exit(exitCode(error));
  }
  const clustered = options.workers === true && bootstrap.workers > 1;
  const logger = createLogger(options.name, bootstrap.logLevel, undefined, clustered ? { worker: workerIndex() ?? 'primary' } : {});
  // A bug that escapes every handler still ends the process (its state is unknown), but with a
  // structured line saying why, where the operator's log pipeline will find it.
  const die = (what: string) => (error: unknown) => {
    logger.fatal({ err: error }, what);
    logger.flush?.();
    process.exit(70); // EX_SOFTWARE (sysexits.h)
  };
  process.on('unhandledRejection', die('unhandled promise rejection'));
  process.on('uncaughtException', die('uncaught exception'));
  try {
    if (clustered && cluster.isPrimary) {
      await runClusterPrimary({ name: options.name, workers: bootstrap.workers, logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
      return;
    }
    await startService(options.module(bootstrap, logger), { logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
  } catch (error) {
    logger.fatal({ err: error }, `${options.name} failed to start`);
    logger.flush?.();
    process.exit((error as { exitCode?: number }).exitCode ?? exitCode(error));
  }
}
