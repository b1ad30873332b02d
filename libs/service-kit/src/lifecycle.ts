/**
 * A service's ordered stop, written once. Nest calls each provider's shutdown hooks in module
 * order, which says nothing about what depends on what; this provider runs the stop as one
 * sequence instead, in `beforeApplicationShutdown` (after SIGTERM/SIGINT, before the HTTP side
 * closes):
 *
 *  1. `serving`: stop taking work and finish what was taken (NATS responders, mail listeners);
 *  2. `bus`: drain and close the NATS connection (replies already sent reach their requesters);
 *  3. `stores`: close what the work used (memcached, the directory).
 *
 * While it runs, `stopping` is true: a NATS server or memcached that goes away now is expected
 * (a single-node stack stops them too) and is logged at info level, not as a warning.
 */
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Logger } from './logger';
import { LOGGER } from './tokens';

/** The steps of a stop, in the order they run. */
export type ShutdownPhase = 'serving' | 'bus' | 'stores';
const PHASES: readonly ShutdownPhase[] = ['serving', 'bus', 'stores'];

interface ShutdownStep {
  readonly phase: ShutdownPhase;
  readonly what: string;
  readonly run: () => Promise<void>;
}

@Injectable()
export class ServiceLifecycle implements BeforeApplicationShutdown {
  private readonly steps: ShutdownStep[] = [];
  private stoppingSince: number | undefined;

  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  /** True once the service has begun to stop. */
  get stopping(): boolean {
    return this.stoppingSince !== undefined;
  }

  /** Registers `run` for `phase`; steps of one phase run together, phases one after another. */
  onShutdown(phase: ShutdownPhase, what: string, run: () => Promise<void>): void {
    this.steps.push({ phase, what, run });
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    await this.stop(signal);
  }

  /** Runs the stop (once; later calls wait for nothing). A failed step is logged and the next phase still runs. */
  async stop(signal?: string): Promise<void> {
    if (this.stopping) return;
    this.stoppingSince = performance.now();
    this.logger.info({ signal }, 'stopping');
    for (const phase of PHASES) {
      await Promise.all(
        this.steps
          .filter((step) => step.phase === phase)
          .map(async (step) => {
            try {
              await step.run();
            } catch (error) {
              this.logger.warn({ err: error, phase, step: step.what }, 'shutdown step failed');
            }
          }),
      );
    }
    this.logger.info({ ms: Math.round(performance.now() - this.stoppingSince) }, 'stopped');
  }
}
