import { ErrorCode, ThrottleCheckContract, type PosternError } from '@postern/contracts';
import { errors, TimeoutError, type NatsConnection, type Status } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { hedgedRequest } from './nats-rpc';

// The real bus is in test/integration/nats-faults.test.ts; here a connection whose replies and
// status events the test hands out, to pin down the rules of one request.

interface Sent {
  readonly data: unknown;
  readonly timeoutMs: number;
  answer(reply: unknown): void;
  fail(error: Error): void;
}

class FakeBus {
  readonly sent: Sent[] = [];
  private statusWaiters: ((s: IteratorResult<Status>) => void)[] = [];
  private queued: Status[] = [];

  readonly nc = {
    isClosed: () => false,
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => this.nextStatus() }) }),
    request: (_subject: string, data: Uint8Array, opts: { timeout: number }) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new TimeoutError()), opts.timeout);
        this.sent.push({
          data: JSON.parse(new TextDecoder().decode(data)),
          timeoutMs: opts.timeout,
          answer: (reply) => {
            clearTimeout(timer);
            resolve({ data: new TextEncoder().encode(JSON.stringify(reply)) });
          },
          fail: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
      }),
  } as unknown as NatsConnection;

  emit(status: Status): void {
    const waiter = this.statusWaiters.shift();
    if (waiter) waiter({ value: status, done: false });
    else this.queued.push(status);
  }

  private nextStatus(): Promise<IteratorResult<Status>> {
    const queued = this.queued.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    return new Promise((resolve) => this.statusWaiters.push(resolve));
  }
}

const check = { kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1', checkId: 'c1' } as const;
const allow = { ok: true, result: { verdict: 'allow' } };
const duplicate = { ok: false, error: { code: 'DUPLICATE', message: 'taken by another instance' } };
const until = async (what: () => boolean) => {
  while (!what()) await new Promise((r) => setTimeout(r, 1));
};
/** The error a request failed with (undefined when it succeeded). */
const failure = (p: Promise<unknown>): Promise<PosternError | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => e as PosternError,
  );

describe('hedgedRequest', () => {
  it('answers from the first copy when it is in time, sending nothing more', async () => {
    const bus = new FakeBus();
    const result = hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 5_000, hedgeAfterMs: 1_000 });
    await until(() => bus.sent.length === 1);
    bus.sent[0]!.answer(allow);
    expect(await result).toEqual({ verdict: 'allow' });
    expect(bus.sent).toHaveLength(1);
  });

  it('sends the same request again when the answer is late, and takes the copy that answers', async () => {
    const bus = new FakeBus();
    let hedges = 0;
    const result = hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 5_000, hedgeAfterMs: 5, onHedge: () => hedges++ });
    await until(() => bus.sent.length === 2);
    expect(bus.sent[1]!.data).toEqual(bus.sent[0]!.data);
    // The second copy gets what is left of the one budget, not a budget of its own.
    expect(bus.sent[1]!.timeoutMs).toBeLessThan(5_000);
    bus.sent[1]!.answer(allow);
    expect(await result).toEqual({ verdict: 'allow' });
    expect(hedges).toBe(1);
  });

  it('waits for the other copy when one is answered DUPLICATE', async () => {
    const bus = new FakeBus();
    const result = hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 5_000, hedgeAfterMs: 5 });
    await until(() => bus.sent.length === 2);
    bus.sent[0]!.answer(duplicate);
    await new Promise((r) => setTimeout(r, 5));
    bus.sent[1]!.answer({ ok: true, result: { verdict: 'deny', reason: 'ip', message: 'no' } });
    expect(await result).toMatchObject({ verdict: 'deny' });
  });

  it('times out at the one budget when the copy that was taken never answers', async () => {
    const bus = new FakeBus();
    const result = failure(hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 60, hedgeAfterMs: 5 }));
    await until(() => bus.sent.length === 2);
    bus.sent[1]!.answer(duplicate);
    expect((await result)?.code).toBe(ErrorCode.Timeout);
  });

  it('"no responders" on the hedge is UNAVAILABLE at once', async () => {
    const bus = new FakeBus();
    const result = failure(hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 60_000, hedgeAfterMs: 5 }));
    await until(() => bus.sent.length === 2);
    bus.sent[1]!.fail(new errors.RequestError('no responders', { cause: new errors.NoRespondersError(ThrottleCheckContract.subject) }));
    expect((await result)?.code).toBe(ErrorCode.Unavailable);
  });

  it('while the bus is down sends nothing and fails UNAVAILABLE at once; a request waiting when it drops fails then', async () => {
    const bus = new FakeBus();
    const waiting = failure(hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 60_000, hedgeAfterMs: 0 }));
    await until(() => bus.sent.length === 1);
    bus.emit({ type: 'disconnect', server: 'nats://127.0.0.1:4222' });
    expect((await waiting)?.code).toBe(ErrorCode.Unavailable);
    expect((await failure(hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 60_000, hedgeAfterMs: 5 })))?.code).toBe(ErrorCode.Unavailable);
    expect(bus.sent).toHaveLength(1);
    bus.emit({ type: 'reconnect', server: 'nats://127.0.0.1:4222' });
    await new Promise((r) => setTimeout(r, 1));
    const again = hedgedRequest(bus.nc, ThrottleCheckContract, check, { timeoutMs: 60_000, hedgeAfterMs: 0 });
    await until(() => bus.sent.length === 2);
    bus.sent[1]!.answer(allow);
    expect(await again).toEqual({ verdict: 'allow' });
  });

  it('refuses a request its schema refuses without sending it', async () => {
    const bus = new FakeBus();
    await expect(hedgedRequest(bus.nc, ThrottleCheckContract, { ...check, clientIp: 'nope' }, { timeoutMs: 100, hedgeAfterMs: 0 })).rejects.toMatchObject({
      code: ErrorCode.BadRequest,
    });
    expect(bus.sent).toHaveLength(0);
  });
});
