/**
 * The Nest side of starting a service: create the Nest application of the service's module,
 * serve /metrics and /health, and let Nest's shutdown hooks run the ordered stop on SIGTERM and
 * SIGINT. Loaded only by a process that runs a service (service-main.ts imports it when it
 * needs it), never by a cluster primary.
 */
import 'reflect-metadata';
import cluster from 'node:cluster';
import type { AddressInfo, Server } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, INestApplicationContext, LoggerService } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { joinCluster } from './cluster';
import { HealthChecks } from './health';
import type { Logger } from './logger';
import type { HealthReport } from './observability-server';
import { METRICS_REGISTRY } from './tokens';

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
  readonly app: INestApplicationContext;
  /** The port /metrics and /health listen on (useful when configured as 0; 0 in a cluster worker). */
  readonly httpPort: number;
}

/**
 * Creates the Nest application for `module` and listens on host:port; SIGTERM and SIGINT stop it.
 * In a cluster worker it serves no HTTP (the primary does): the worker is an application context
 * without an HTTP adapter (Express is never loaded), and SIGINT is the primary's to act on.
 */
export async function startService(module: DynamicModule, options: { logger: Logger; httpHost: string; httpPort: number }): Promise<RunningService> {
  // process.exit() after the hooks (rather than re-raising the signal) lets pino flush its last lines.
  if (cluster.isWorker) {
    const hosted = await startHostedService(module, options.logger);
    hosted.app.enableShutdownHooks(['SIGTERM'], { useProcessExit: true });
    process.on('SIGINT', () => undefined);
    joinCluster([hosted.registry], () => hosted.health());
    options.logger.info('worker ready');
    return { app: hosted.app, httpPort: 0 };
  }
  const app: INestApplication = await NestFactory.create(module, { logger: new PinoNestLogger(options.logger), abortOnError: false });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen(options.httpPort, options.httpHost);
  const address = (app.getHttpServer() as Server).address() as AddressInfo | null;
  const httpPort = address?.port ?? options.httpPort;
  options.logger.info({ httpHost: options.httpHost, httpPort }, 'service ready');
  return { app, httpPort };
}

/** A service running inside a process that serves /metrics and /health for it (a worker, a host). */
export interface HostedService {
  readonly app: INestApplicationContext;
  readonly registry: Registry;
  health(): Promise<HealthReport>;
}

/** Creates and initialises `module` as an application context: its providers run, no HTTP of its own. */
export async function startHostedService(module: DynamicModule, logger: Logger): Promise<HostedService> {
  const app = await NestFactory.createApplicationContext(module, { logger: new PinoNestLogger(logger), abortOnError: false });
  await app.init();
  const checks = app.get(HealthChecks);
  return { app, registry: app.get<Registry>(METRICS_REGISTRY), health: () => checks.run() };
}
