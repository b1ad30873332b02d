/**
 * The life of a NATS responder, written once: serve a contract in its queue group, count
 * malformed requests, and on shutdown answer every request already received before the NATS
 * connection and the service's own resources close (the `serving` step of ServiceLifecycle).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { z } from 'zod';
import type { RequestContract } from '@postern/contracts';
import { ErrorCode } from '@postern/contracts';
import { ServiceLifecycle } from './lifecycle';
import type { Logger } from './logger';
import { isNatsConnected, type NatsConnection } from './nats-connection';
import { serveRequests, type Responder } from './nats-rpc';
import { LOGGER, NATS_CONNECTION } from './tokens';

export interface ResponderOptions {
  /** What the service answers, for its "serving …" log line. */
  readonly serving: string;
  /** A request its contract refused (counted by the service's metrics). */
  readonly onBadRequest?: () => void;
}

@Injectable()
export class Responders {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly lifecycle: ServiceLifecycle,
  ) {}

  /** Serves `contract` with `handler` until the service stops; then drains before NATS closes. */
  serve<Req extends z.ZodType, Res extends z.ZodType>(
    contract: RequestContract<Req, Res>,
    handler: (request: z.output<Req>) => Promise<z.input<Res>>,
    options: ResponderOptions,
  ): Responder {
    const { logger, nc } = this;
    const responder = serveRequests(nc, contract, handler, {
      logger,
      onOutcome: (outcome) => {
        if (outcome === ErrorCode.BadRequest) options.onBadRequest?.();
      },
    });
    logger.info({ subject: contract.subject, queue: contract.queue }, `serving ${options.serving}`);
    this.lifecycle.onShutdown('serving', `${options.serving} responder`, async () => {
      logger.info({ inFlight: responder.inFlight }, 'draining');
      try {
        // With the server gone there is no subscription to drain and no requester to answer.
        if (isNatsConnected(nc)) await responder.drain();
      } catch (error) {
        if (isNatsConnected(nc)) throw error;
      }
    });
    return responder;
  }
}
