/**
 * Request/reply over NATS with the contracts' schemas checked on both ends.
 *
 * A responder never crashes on a bad request: it answers `BAD_REQUEST`. A requester never waits
 * past its timeout and never mistakes a malformed reply for a result: it gets a typed error. On the
 * login path, {@link hedgedRequest} also hedges a late answer and does not wait on a dead bus.
 */
import {
  decodePayload,
  encodePayload,
  ErrorCode,
  PosternError,
  replySchema,
  type EventContract,
  type Reply,
  type ReplyError,
  type RequestContract,
} from '@postern/contracts';
import { RequestError, TimeoutError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { Logger } from './logger';
import { natsLink } from './nats-link';

export interface ServeOptions {
  readonly logger: Logger;
  /** Called once per request with its outcome label (`ok`, or an error code), for metrics. */
  readonly onOutcome?: (outcome: string, seconds: number) => void;
}

/** A running responder. */
export interface Responder {
  readonly subscription: Subscription;
  /** Requests received and not yet answered. */
  readonly inFlight: number;
  /**
   * Stops taking requests and resolves once every request already received has been answered.
   * (Draining the subscription alone is not enough: it returns once callbacks have *started*,
   * and replies of handlers still awaiting the directory would be lost with the connection.)
   */
  drain(): Promise<void>;
}

/** Answers `contract` requests in its queue group. */
export function serveRequests<Req extends z.ZodType, Res extends z.ZodType>(
  nc: NatsConnection,
  contract: RequestContract<Req, Res>,
  handler: (request: z.output<Req>) => Promise<z.input<Res>>,
  options: ServeOptions,
): Responder {
  const pending = new Set<Promise<void>>();
  const replies = replySchema(contract.result);
  const respond = (msg: Msg, reply: Reply<z.input<Res>>, started: number) => {
    const outcome = reply.ok ? 'ok' : reply.error.code;
    try {
      msg.respond(encodePayload(replies, reply as z.input<typeof replies>));
    } catch (error) {
      // The handler produced a result its own contract refuses: a bug, answered as INTERNAL.
      options.logger.error({ err: error, subject: contract.subject }, 'reply failed its schema');
      msg.respond(encodePayload(replies, { ok: false, error: { code: ErrorCode.Internal, message: 'internal error' } }));
    }
    options.onOutcome?.(outcome, (performance.now() - started) / 1000);
  };
  const subscription = nc.subscribe(contract.subject, {
    queue: contract.queue,
    callback: (err, msg) => {
      if (err) {
        options.logger.error({ err, subject: contract.subject }, 'subscription error');
        return;
      }
      const started = performance.now();
      if (!msg.reply) return; // a publish without a reply subject: nobody to answer
      const decoded = decodePayload(contract.request, msg.data);
      if (!decoded.ok) {
        respond(msg, { ok: false, error: { code: ErrorCode.BadRequest, message: decoded.message } }, started);
        return;
      }
      const work = handler(decoded.value).then(
        (result) => respond(msg, { ok: true, result }, started),
        (error: unknown) => {
          if (error instanceof PosternError) {
            const body: ReplyError = { code: error.code, message: error.message.slice(0, 1024) };
            if (error.retryAfterMs !== undefined) body.retryAfterMs = error.retryAfterMs;
            respond(msg, { ok: false, error: body }, started);
          } else {
            options.logger.error({ err: error, subject: contract.subject }, 'request handler failed');
            respond(msg, { ok: false, error: { code: ErrorCode.Internal, message: 'internal error' } }, started);
          }
        },
      );
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },
  });
  return {
    subscription,
    get inFlight() {
      return pending.size;
    },
    async drain() {
      await subscription.drain();
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

/**
 * Sends a request and returns its result; throws {@link PosternError}: `BAD_REQUEST` when the
 * request fails its schema (nothing is sent), `TIMEOUT` past `timeoutMs`, `UNAVAILABLE` when no
 * instance answers, `BAD_REPLY` for a malformed reply, or the responder's own error code.
 */
export async function requestReply<Req extends z.ZodType, Res extends z.ZodType>(
  nc: NatsConnection,
  contract: RequestContract<Req, Res>,
  request: z.input<Req>,
  timeoutMs: number,
): Promise<z.output<Res>> {
  return sendOnce(nc, contract, encodePayload(contract.request, request), timeoutMs);
}

/** How {@link hedgedRequest} sends a request. */
export interface HedgedRequestOptions {
  /** Longest wait for an answer, every copy included (ms): the budget of this one call. */
  readonly timeoutMs: number;
  /**
   * With no answer after this many ms, the same request goes once more to the queue group, so
   * another instance answers when the first one is stuck or gone (its reply would never come); the
   * first answer of either copy wins. 0, or not below `timeoutMs`: never. The service's p99 is a
   * good value: about one request in a hundred is sent twice.
   */
  readonly hedgeAfterMs: number;
  /** Called when the second copy is sent (for metrics). */
  readonly onHedge?: () => void;
}

/**
 * {@link requestReply} for the login path: a budget of its own, a hedge when the answer is late,
 * and no waiting on a dead bus. Throws `UNAVAILABLE` at once while the connection is down (nats.js
 * would buffer the request until it reconnects), and the moment it goes down while waiting; "no
 * responders" is `UNAVAILABLE` too. A copy answered `DUPLICATE` (another instance took the other
 * copy) is not an answer: the other copy's reply is awaited. The request must be idempotent, or
 * de-duplicated by the responder (as throttle checks are, by their `checkId`).
 */
export async function hedgedRequest<Req extends z.ZodType, Res extends z.ZodType>(
  nc: NatsConnection,
  contract: RequestContract<Req, Res>,
  request: z.input<Req>,
  options: HedgedRequestOptions,
): Promise<z.output<Res>> {
  const data = encodePayload(contract.request, request);
  const link = natsLink(nc);
  if (!link.up) throw busDown(contract.subject);
  const budget = Math.max(1, Math.floor(options.timeoutMs));
  const expiresAt = performance.now() + budget;
  return new Promise<z.output<Res>>((resolve, reject) => {
    let inFlight = 0;
    let hedgeDue = options.hedgeAfterMs > 0 && options.hedgeAfterMs < budget;
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(hedgeTimer);
      stopWatching();
      settle();
    };
    const send = () => {
      inFlight++;
      sendOnce(nc, contract, data, Math.max(1, expiresAt - performance.now())).then(
        (result) => finish(() => resolve(result)),
        (error: unknown) => {
          inFlight--;
          const silent = error instanceof PosternError && (error.code === ErrorCode.Duplicate || error.code === ErrorCode.Timeout);
          if (!silent) return finish(() => reject(error instanceof Error ? error : new Error(String(error))));
          // Another copy is still out, or is about to be sent: its answer decides.
          if (inFlight > 0 || hedgeDue) return;
          finish(() => reject(new PosternError(ErrorCode.Timeout, `${contract.subject}: no reply within ${budget} ms`, { cause: error })));
        },
      );
    };
    const stopWatching = link.onDown(() => finish(() => reject(busDown(contract.subject))));
    const hedgeTimer = hedgeDue
      ? setTimeout(() => {
          hedgeDue = false;
          if (settled) return;
          options.onHedge?.();
          send();
        }, options.hedgeAfterMs)
      : undefined;
    send();
  });
}

function busDown(subject: string): PosternError {
  return new PosternError(ErrorCode.Unavailable, `${subject}: the NATS connection is down`);
}

/** One request of already-encoded data, its failures mapped to {@link PosternError}s. */
async function sendOnce<Req extends z.ZodType, Res extends z.ZodType>(
  nc: NatsConnection,
  contract: RequestContract<Req, Res>,
  data: Uint8Array,
  timeoutMs: number,
): Promise<z.output<Res>> {
  let msg: Msg;
  try {
    msg = await nc.request(contract.subject, data, { timeout: Math.max(1, Math.floor(timeoutMs)) });
  } catch (error) {
    if (error instanceof TimeoutError || (error instanceof RequestError && error.cause instanceof TimeoutError)) {
      throw new PosternError(ErrorCode.Timeout, `${contract.subject}: no reply within ${Math.floor(timeoutMs)} ms`, { cause: error });
    }
    if (error instanceof RequestError && error.isNoResponders()) {
      throw new PosternError(ErrorCode.Unavailable, `${contract.subject}: no instance is serving`, { cause: error });
    }
    throw new PosternError(ErrorCode.Unavailable, `${contract.subject}: ${(error as Error).message}`, { cause: error });
  }
  const decoded = decodePayload(replySchema(contract.result), msg.data);
  if (!decoded.ok) throw new PosternError(ErrorCode.BadReply, `${contract.subject}: ${decoded.message}`);
  const reply = decoded.value as Reply<z.output<Res>>;
  if (reply.ok) return reply.result;
  throw new PosternError(
    reply.error.code,
    reply.error.message,
    reply.error.retryAfterMs === undefined ? undefined : { retryAfterMs: reply.error.retryAfterMs },
  );
}

/** Publishes a broadcast event after validating it. */
export function publishEvent<Ev extends z.ZodType>(nc: NatsConnection, contract: EventContract<Ev>, event: z.input<Ev>): void {
  nc.publish(contract.subject, encodePayload(contract.event, event));
}

/** Subscribes to a broadcast event; malformed events are logged and dropped. */
export function subscribeEvents<Ev extends z.ZodType>(
  nc: NatsConnection,
  contract: EventContract<Ev>,
  handler: (event: z.output<Ev>) => void | Promise<void>,
  logger: Logger,
): Subscription {
  return nc.subscribe(contract.subject, {
    callback: (err, msg) => {
      if (err) return void logger.error({ err, subject: contract.subject }, 'subscription error');
      const decoded = decodePayload(contract.event, msg.data);
      if (!decoded.ok) return void logger.warn({ subject: contract.subject, problem: decoded.message }, 'dropped a malformed event');
      Promise.resolve(handler(decoded.value)).catch((error: unknown) => logger.error({ err: error, subject: contract.subject }, 'event handler failed'));
    },
  });
}
