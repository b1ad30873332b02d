/**
 * A worker per core, as nginx's `worker_processes auto`: the primary process forks
 * `POSTERN_WORKERS` workers, each a whole service (its own NATS connection, memcached pool and
 * sessions), and they share the service's listening sockets.
 *
 * ## Who accepts
 *
 * The kernel: the workers share each listening socket and accept from it themselves
 * (`SCHED_NONE`), as nginx's workers do with `accept_mutex off`. Node's default (`SCHED_RR`) has
 * the primary accept every connection and pass it to a worker over IPC: evenly spread, but a
 * handle transfer per connection on a process that does nothing else, which is the cost a mail
 * tier is sized by. Under load a busy worker comes back to accept less often, which spreads the
 * connections; when idle one worker may take most of them, which costs nothing.
 *
 * ## What the primary does
 *
 * Only supervision, so that it stays small and does not fail:
 * - /metrics: every worker's registry, aggregated (prom-client's cluster aggregation: counters and
 *   histograms summed), so a scrape sees one service's series whatever the number of workers;
 * - /health: 200 when every worker is up and healthy (each asked over IPC);
 * - SIGHUP is passed to every worker (each re-reads its settings);
 * - SIGTERM/SIGINT: each worker gets SIGTERM and drains; the primary exits when all have;
 * - a worker that dies is replaced (after a pause that grows while replacements keep failing);
 *   one that dies before it was ever ready fails the start, with its exit code (78 for a bad config).
 *
 * It loads none of the service itself (no Nest, no NATS or memcached client): the service's
 * module is imported in the workers only (service-main.ts), so a primary holds little more than
 * Node's own floor.
 *
 * A worker whose primary is gone (killed) drains and exits on its own.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from './logger';
import { serveObservability, type HealthReport } from './observability-server';

/** The IPC messages between the primary and its workers (prom-client has its own for metrics). */
const READY = 'postern:worker-ready';
const HEALTH_REQUEST = 'postern:health-request';
const HEALTH_REPLY = 'postern:health-reply';

/** How long the primary waits for a worker's health answer before counting it unhealthy. */
const HEALTH_ANSWER_MS = 2_000;
/** Pause before replacing a dead worker: doubled per replacement that dies before it is ready. */
const RESTART_PAUSE_MS = { first: 250, max: 30_000 };

const NOT_READY: HealthReport = { healthy: false, checks: { ready: false } };

export interface ClusterPrimaryOptions {
  readonly name: string;
  readonly workers: number;
  readonly logger: Logger;
  readonly httpHost: string;
  readonly httpPort: number;
}

/** The index (0 … workers − 1) of this worker, or undefined in a process that is not one. */
export function workerIndex(): number | undefined {
  return cluster.isWorker ? Number(process.env.POSTERN_WORKER_INDEX) : undefined;
}

/**
 * Runs the primary: forks the workers, serves /metrics and /health, passes signals on. Resolves
 * when every worker is ready; rejects (with the first failure's exit code) when one of them
 * could not start.
 */
export async function runClusterPrimary(options: ClusterPrimaryOptions): Promise<{ httpPort: number }> {
  const { name, logger } = options;
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const registry = new Registry();
  registry.setDefaultLabels({ service: name });
  const workersUp = new Gauge({ name: 'postern_workers', help: 'Worker processes running and ready.', registers: [registry] });
  const restarts = new Counter({ name: 'postern_worker_restarts_total', help: 'Workers replaced after they died.', registers: [registry] });
  const aggregator = new AggregatorRegistry();

  const slots: { worker: Worker; ready: boolean; pause: number }[] = [];
  let stopping = false;
  let startFailed: ((code: number) => void) | undefined;
  let onReady: (() => void) | undefined;
  const healthWaiters = new Map<number, (report: HealthReport) => void>();
  let healthRequests = 0;
  // Listening once every worker is ready; closed by stop().
  const http: { server?: Server } = {};

  const fork = (index: number, pause: number): void => {
    const worker = cluster.fork({ POSTERN_WORKER_INDEX: String(index) });
    const slot = { worker, ready: false, pause };
    slots[index] = slot;
    worker.on('message', (message: { type?: string; id?: number; report?: HealthReport }) => {
      if (message?.type === READY) {
        slot.ready = true;
        slot.pause = RESTART_PAUSE_MS.first;
        workersUp.inc();
        logger.info({ worker: index, workerPid: worker.process.pid }, 'worker ready');
        onReady?.();
      } else if (message?.type === HEALTH_REPLY && message.id !== undefined && message.report) {
        healthWaiters.get(message.id)?.(message.report);
      }
    });
    worker.on('exit', (code, signal) => {
      if (slot.ready) workersUp.dec();
      if (stopping) return;
      if (startFailed) {
        // Still starting: a worker that cannot start means the service cannot.
        logger.fatal({ worker: index, code, signal }, 'worker failed to start');
        startFailed(code ?? 1);
        return;
      }
      const next = slot.ready ? RESTART_PAUSE_MS.first : Math.min(slot.pause * 2, RESTART_PAUSE_MS.max);
      logger.error({ worker: index, workerPid: worker.process.pid, code, signal, restartInMs: next }, 'worker died; starting another');
      restarts.inc();
      setTimeout(() => {
        if (!stopping) fork(index, next);
      }, next);
    });
  };

  const askHealth = (worker: Worker): Promise<HealthReport> =>
    new Promise((resolve) => {
      const id = healthRequests++;
      const done = (report: HealthReport) => {
        clearTimeout(timer);
        healthWaiters.delete(id);
        resolve(report);
      };
      const timer = setTimeout(() => done({ healthy: false, checks: { answered: false } }), HEALTH_ANSWER_MS);
      healthWaiters.set(id, done);
      if (worker.isConnected()) worker.send({ type: HEALTH_REQUEST, id });
      else done({ healthy: false, checks: { connected: false } });
    });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const exits = slots.map((slot) => new Promise<void>((resolve) => (slot.worker.isDead() ? resolve() : slot.worker.once('exit', () => resolve()))));
    for (const slot of slots) if (!slot.worker.isDead()) slot.worker.process.kill('SIGTERM');
    await Promise.all(exits);
    http.server?.close();
    logger.info('stopped');
    logger.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info({ workers: slots.length }, 'SIGHUP: passing it to every worker');
    for (const slot of slots) if (!slot.worker.isDead()) slot.worker.process.kill('SIGHUP');
  });

  await new Promise<void>((resolve, reject) => {
    startFailed = (code) => {
      stopping = true;
      for (const slot of slots) if (!slot.worker.isDead()) slot.worker.process.kill('SIGTERM');
      reject(Object.assign(new Error(`a worker of ${name} failed to start (exit code ${code})`), { exitCode: code }));
    };
    onReady = () => {
      if (slots.length === options.workers && slots.every((slot) => slot.ready)) {
        onReady = undefined;
        startFailed = undefined;
        resolve();
      }
    };
    for (let index = 0; index < options.workers; index++) fork(index, RESTART_PAUSE_MS.first);
  });
  const served = await serveObservability(
    {
      metrics: async () => {
        const [workers, own] = await Promise.all([aggregator.clusterMetrics(), registry.metrics()]);
        return `${workers}\n${own}`;
      },
      health: async () => {
        const reports = await Promise.all(slots.map((slot) => (slot.ready ? askHealth(slot.worker) : Promise.resolve(NOT_READY))));
        const healthy = !stopping && reports.length === options.workers && reports.every((r) => r.healthy);
        return { healthy, serving: !stopping, workers: reports };
      },
    },
    options.httpHost,
    options.httpPort,
    logger,
  );
  http.server = served.server;
  const httpPort = served.port;
  logger.info({ httpHost: options.httpHost, httpPort, workers: options.workers }, 'service ready');
  return { httpPort };
}

/**
 * The worker's side: its registries (one per service it hosts) join the primary's aggregation,
 * it answers health requests, says when it is ready, and stops when its primary is gone. SIGINT is left to the primary (a
 * terminal's Ctrl-C reaches the whole process group; the primary turns it into one SIGTERM each).
 */
export function joinCluster(registries: readonly Registry[], health: () => Promise<HealthReport>): void {
  new AggregatorRegistry(); // installs prom-client's worker-side listener
  AggregatorRegistry.setRegistries([...registries]);
  process.on('message', (message: { type?: string; id?: number }) => {
    if (message?.type !== HEALTH_REQUEST) return;
    void health()
      .catch((): HealthReport => ({ healthy: false, checks: { answered: false } }))
      .then((report) => process.send?.({ type: HEALTH_REPLY, id: message.id, report }));
  });
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.send?.({ type: READY });
}
