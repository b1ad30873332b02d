/**
 * A service's process entry (`@postern/service-kit/main`), without Nest: load and check the
 * bootstrap config (exit 78, EX_CONFIG, on a bad one), create the logger, then either run a
 * cluster primary (cluster.ts: supervision, metrics and health only) or import the service's
 * module and start it (bootstrap.ts, the Nest side). A primary never loads Nest nor the service's
 * code: its module is behind a function that only a worker calls.
 */
import cluster from 'node:cluster';
import type { DynamicModule } from '@nestjs/common';
import { ConfigError, loadBootstrap, type BootstrapConfig } from '@postern/config';
import type { HostedService } from './bootstrap';
import { joinCluster, runClusterPrimary, workerIndex } from './cluster';
import { createLogger, logFormat, type Logger } from './logger';
import { mergedMetrics, mergeHealth, serveObservability } from './observability-server';
import { keepTickShapes } from './tick-shapes';

/** What a service's `main` says about itself. */
export interface ServiceMainOptions {
  readonly name: string;
  /** Checks beyond the bootstrap config's own (throws ConfigError), e.g. that a directory is named. */
  readonly check?: (bootstrap: BootstrapConfig) => void;
  /** The service's root module, imported when called (a cluster primary never calls it). */
  readonly module: (bootstrap: BootstrapConfig, logger: Logger) => DynamicModule | Promise<DynamicModule>;
  /** Runs `bootstrap.workers` worker processes sharing the service's listeners (a frontend's choice). */
  readonly workers?: boolean;
}

/** The exit code for a failure to start: 78 (EX_CONFIG, sysexits.h) for a bad config, else 1. */
function startExitCode(error: unknown): number {
  return (error as { exitCode?: number }).exitCode ?? (error instanceof ConfigError ? 78 : 1);
}

/** Loads the bootstrap config and runs every check (the log format's too); prints the problem and exits 78 or 1 on failure. */
function checkedBootstrap(name: string, checks: readonly ((bootstrap: BootstrapConfig) => void)[]): BootstrapConfig {
  try {
    const bootstrap = loadBootstrap();
    logFormat();
    for (const check of checks) check(bootstrap);
    return bootstrap;
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n`);
    process.exit(startExitCode(error));
  }
}

/**
 * A bug that escapes every handler still ends the process (its state is unknown), but with a
 * structured line saying why, where the operator's log pipeline will find it.
 */
function dieOnEscapedErrors(logger: Logger): void {
  const die = (what: string) => (error: unknown) => {
    logger.fatal({ err: error }, what);
    logger.flush?.();
    process.exit(70); // EX_SOFTWARE (sysexits.h)
  };
  process.on('unhandledRejection', die('unhandled promise rejection'));
  process.on('uncaughtException', die('uncaught exception'));
}

/** Logs why `name` could not start and exits with the matching code. */
function failedToStart(logger: Logger, name: string, error: unknown): never {
  logger.fatal({ err: error }, `${name} failed to start`);
  logger.flush?.();
  process.exit(startExitCode(error));
}

/** Loads the bootstrap config, creates the logger and starts the service; exits on failure. */
export async function serviceMain(options: ServiceMainOptions): Promise<void> {
  keepTickShapes();
  const bootstrap = checkedBootstrap(options.name, options.check ? [options.check] : []);
  const clustered = options.workers === true && bootstrap.workers > 1;
  const logger = createLogger(options.name, bootstrap.logLevel, undefined, clustered ? { worker: workerIndex() ?? 'primary' } : {});
  dieOnEscapedErrors(logger);
  try {
    if (clustered && cluster.isPrimary) {
      await runClusterPrimary({ name: options.name, workers: bootstrap.workers, logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
      return;
    }
    const { startService } = await import('./bootstrap.js');
    await startService(await options.module(bootstrap, logger), { logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
  } catch (error) {
    failedToStart(logger, options.name, error);
  }
}

/** A process that hosts several services (a single node). */
export interface HostMainOptions {
  /** The process's name: its log lines and its own series. */
  readonly name: string;
  /** The services, in start order: the config-watcher first, whose config the others read before they serve. */
  readonly services: readonly ServiceMainOptions[];
}

/**
 * Runs several services in one process, each its own Nest application context (its own NATS
 * connection, responders, memcached pool and registry) speaking the same NATS contracts as when
 * it runs alone, so that nothing else changes: a single node pays for one Node process instead
 * of one per service.
 *
 * With `bootstrap.workers` > 1 and a frontend among them, it is a cluster as a frontend alone is:
 * a primary without Nest, and workers that each host every frontend; the other services run
 * once, in worker 0 (they answer over NATS, where one instance serves every worker). Otherwise
 * it is one process that serves /metrics (every service's registry, told apart by the `service`
 * label) and /health (every service's checks, named `<service>:<check>`) itself.
 *
 * SIGTERM (and SIGINT outside a cluster) stops the frontends first, draining their sessions,
 * then the other services in the reverse of their start order.
 */
export async function hostMain(options: HostMainOptions): Promise<void> {
  keepTickShapes();
  const bootstrap = checkedBootstrap(
    options.name,
    options.services.flatMap((s) => (s.check ? [s.check] : [])),
  );
  const clustered = options.services.some((s) => s.workers === true) && bootstrap.workers > 1;
  const bindings = clustered ? { worker: workerIndex() ?? 'primary' } : {};
  const logger = createLogger(options.name, bootstrap.logLevel, undefined, bindings);
  dieOnEscapedErrors(logger);
  try {
    if (clustered && cluster.isPrimary) {
      await runClusterPrimary({ name: options.name, workers: bootstrap.workers, logger, httpHost: bootstrap.httpHost, httpPort: bootstrap.httpPort });
      return;
    }
    const hosted = options.services.filter((s) => s.workers === true || !clustered || workerIndex() === 0);
    const { startHostedService } = await import('./bootstrap.js');
    const running: { name: string; frontend: boolean; service: HostedService }[] = [];
    for (const s of hosted) {
      const serviceLogger = createLogger(s.name, bootstrap.logLevel, undefined, bindings);
      running.push({ name: s.name, frontend: s.workers === true, service: await startHostedService(await s.module(bootstrap, serviceLogger), serviceLogger) });
    }
    const names = running.map((r) => r.name);
    const health = async () => mergeHealth(await Promise.all(running.map(async (r) => ({ name: r.name, report: await r.service.health() }))));

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      const close = async (r: (typeof running)[number]) =>
        r.service.app.close().catch((error: unknown) => logger.warn({ err: error, service: r.name }, 'stop failed'));
      const order = [...running].reverse();
      await Promise.all(order.filter((r) => r.frontend).map(close));
      for (const r of order.filter((r) => !r.frontend)) await close(r);
      logger.info('stopped');
      logger.flush?.();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    if (clustered) {
      process.on('SIGINT', () => undefined);
      joinCluster(
        running.map((r) => r.service.registry),
        health,
      );
      logger.info({ services: names }, 'worker ready');
      return;
    }
    process.on('SIGINT', () => void stop('SIGINT'));
    const registries = running.map((r) => r.service.registry);
    const served = await serveObservability(
      { metrics: () => mergedMetrics(registries), health: async () => ({ ...(await health()), serving: !stopping }) },
      bootstrap.httpHost,
      bootstrap.httpPort,
      logger,
    );
    logger.info({ httpHost: bootstrap.httpHost, httpPort: served.port, services: names }, 'service ready');
  } catch (error) {
    failedToStart(logger, options.name, error);
  }
}
