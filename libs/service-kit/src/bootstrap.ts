/**
 * Starting and stopping a Postern service the same way everywhere: a NestJS application whose
 * HTTP side serves /metrics and /health, with shutdown hooks so SIGTERM drains before exit.
 */
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, LoggerService, Type } from '@nestjs/common';
import type { AddressInfo, Server } from 'node:net';
import type { Logger } from './logger';

/** Routes Nest's own log lines into pino. */
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
 * Creates the Nest application for `module`, listens on host:port and stops cleanly on SIGTERM
 * and SIGINT (Nest runs each provider's shutdown hooks, which drain NATS subscriptions).
 */
export async function startService(module: Type<unknown> | DynamicModule, options: { logger: Logger; httpHost: string; httpPort: number }): Promise<RunningService> {
  const app = await NestFactory.create(module, { logger: new PinoNestLogger(options.logger), abortOnError: false });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(options.httpPort, options.httpHost);
  const address = (app.getHttpServer() as Server).address() as AddressInfo | null;
  const httpPort = address?.port ?? options.httpPort;
  options.logger.info({ httpHost: options.httpHost, httpPort }, 'service ready');
  return { app, httpPort };
}
