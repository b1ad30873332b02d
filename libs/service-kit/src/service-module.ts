/**
 * What every Postern service is made of, written once: its logger, metrics registry and NATS
 * connection as providers, /metrics and /health (NATS up, plus the service's own checks), and a
 * `main` that loads the configuration, exits 78 (EX_CONFIG) on a bad one, and starts the app.
 */
import type { DynamicModule, InjectionToken, Provider, Type } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { startService } from './bootstrap';
import type { HealthCheck } from './health';
import { createLogger, type Logger } from './logger';
import { createRegistry } from './metrics';
import { connectNats, type NatsConnection } from './nats-connection';
import { HEALTH_CHECKS, LOGGER, METRICS_REGISTRY, ObservabilityController } from './observability.controller';

/** The service's NATS connection (closed by the service's own shutdown hook, after draining). */
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');

export interface ServiceModuleOptions {
  /** The Nest module class the dynamic module is for. */
  readonly module: Type<unknown>;
  /** The service's name: metrics prefix label, NATS connection name. */
  readonly name: string;
  readonly natsUrls: readonly string[];
  readonly logger: Logger;
  /** The service's own providers. */
  readonly providers: readonly Provider[];
  /** Health checks beyond "NATS is connected", built from injected providers. */
  readonly health?: { readonly inject: readonly InjectionToken[]; readonly checks: (...deps: never[]) => HealthCheck[] };
}

/** The dynamic module of a service: the shared providers, the service's, and /metrics + /health. */
export function serviceModule(options: ServiceModuleOptions): DynamicModule {
  const extra = options.health;
  return {
    module: options.module,
    controllers: [ObservabilityController],
    providers: [
      { provide: LOGGER, useValue: options.logger },
      { provide: METRICS_REGISTRY, useFactory: () => createRegistry(options.name) },
      { provide: NATS_CONNECTION, useFactory: () => connectNats(options.natsUrls, options.name, options.logger) },
      {
        provide: HEALTH_CHECKS,
        useFactory: (nc: NatsConnection, ...deps: never[]): HealthCheck[] => [
          { name: 'nats', check: () => !nc.isClosed() && !nc.isDraining() },
          ...(extra ? extra.checks(...deps) : []),
        ],
        inject: [NATS_CONNECTION, ...(extra?.inject ?? [])],
      },
      ...options.providers,
    ],
  };
}

/** A provider built from the metrics registry (each service's metrics class). */
export function metricsProvider<T>(token: Type<T>, build: (registry: Registry) => T): Provider {
  return { provide: token, useFactory: build, inject: [METRICS_REGISTRY] };
}

/** The part of a service's configuration `serviceMain` reads. */
export interface ServiceBootstrap {
  readonly logLevel: string;
  readonly httpHost: string;
  readonly httpPort: number;
}

/** What a service's `main` needs to know about its configuration. */
export interface ServiceMainOptions<C extends ServiceBootstrap> {
  readonly name: string;
  /** Loads and checks the configuration; throws on a bad one. */
  readonly load: () => C;
  /** True for errors that mean "the configuration is wrong" (exit 78 rather than 1). */
  readonly isConfigError: (error: unknown) => boolean;
  readonly module: (config: C, logger: Logger) => DynamicModule;
}

/** Loads the configuration, creates the logger and starts the service; exits on failure. */
export async function serviceMain<C extends ServiceBootstrap>(options: ServiceMainOptions<C>): Promise<void> {
  const exitCode = (error: unknown) => (options.isConfigError(error) ? 78 : 1); // 78: EX_CONFIG (sysexits.h)
  let config: C;
  try {
    config = options.load();
  } catch (error) {
    process.stderr.write(`${options.name}: ${(error as Error).message}\n`);
    process.exit(exitCode(error));
  }
  const logger = createLogger(options.name, config.logLevel);
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
    await startService(options.module(config, logger), { logger, httpHost: config.httpHost, httpPort: config.httpPort });
  } catch (error) {
    logger.fatal({ err: error }, `${options.name} failed to start`);
    logger.flush?.();
    process.exit(exitCode(error));
  }
}
