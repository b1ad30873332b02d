/**
 * The life of a NATS responder service, written once: serve the contract in its queue group,
 * count malformed requests, reload the settings on SIGHUP, and on shutdown answer every request
 * already received before the connection and the service's own resources close.
 */
import type { z } from 'zod';
import type { RequestContract } from '@postern/contracts';
import { ErrorCode } from '@postern/contracts';
import type { Logger } from './logger';
import type { NatsConnection } from './nats-connection';
import { serveRequests } from './nats-rpc';

export interface ResponderServiceOptions<Req extends z.ZodType, Res extends z.ZodType> {
  readonly nc: NatsConnection;
  readonly contract: RequestContract<Req, Res>;
  readonly handler: (request: z.output<Req>) => Promise<z.input<Res>>;
  readonly logger: Logger;
  /** What the service answers, for its "serving …" log line. */
  readonly serving: string;
  /** A request its contract refused (counted by the service's metrics). */
  readonly onBadRequest?: () => void;
  /** SIGHUP: re-read the settings. */
  readonly onHangup?: () => void;
  /** Closes what the service holds besides NATS (directory, memcached), after the drain. */
  readonly close?: () => Promise<void>;
}

export interface RunningResponder {
  /** Stops taking requests, answers those received, drains NATS, then closes the rest. */
  stop(): Promise<void>;
}

export function startResponderService<Req extends z.ZodType, Res extends z.ZodType>(options: ResponderServiceOptions<Req, Res>): RunningResponder {
  const { nc, contract, logger } = options;
  const responder = serveRequests(nc, contract, options.handler, {
    logger,
    onOutcome: (outcome) => {
      if (outcome === ErrorCode.BadRequest) options.onBadRequest?.();
    },
  });
  const hangup = () => options.onHangup?.();
  process.on('SIGHUP', hangup);
  logger.info({ subject: contract.subject, queue: contract.queue }, `serving ${options.serving}`);
  return {
    async stop() {
      process.off('SIGHUP', hangup);
      logger.info({ inFlight: responder.inFlight }, 'draining');
      await responder.drain();
      await nc.drain();
      await options.close?.();
    },
  };
}
