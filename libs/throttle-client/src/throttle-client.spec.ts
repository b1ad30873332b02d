import { Settings } from '@postern/config';
import type { NatsConnection } from '@postern/service-kit';
import { Deadline } from '@postern/service-kit';
import { describe, expect, it } from 'vitest';
import { AllowAllThrottle, fallbackVerdict, ThrottleClient, type ThrottleFallback } from './throttle-client';

// The NATS paths run against a real nats-server in test/integration/login-throttle.test.ts; here
// only what happens before anything is sent.
/** A connection that is up and answers every request with `reply(request)`. */
function busAnswering(reply: (request: unknown) => unknown): NatsConnection {
  return {
    isClosed: () => false,
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) }),
    request: async (_subject: string, data: Uint8Array) => ({
      data: new TextEncoder().encode(JSON.stringify(reply(JSON.parse(new TextDecoder().decode(data))))),
    }),
  } as unknown as NatsConnection;
}

const untouchable = new Proxy(
  {},
  {
    get: () => {
      throw new Error('the bus must not be used');
    },
  },
) as NatsConnection;

describe('fallbackVerdict', () => {
  it('allows when failing open, denies with the message when failing closed, and never refuses a failed-login report', () => {
    expect(fallbackVerdict({ kind: 'connect' }, false, 'no')).toEqual({ verdict: 'allow' });
    expect(fallbackVerdict({ kind: 'pre-login' }, true, 'no')).toEqual({ verdict: 'deny', reason: 'ip', message: 'no' });
    expect(fallbackVerdict({ kind: 'login-failed' }, true, 'no')).toEqual({ verdict: 'allow' });
  });
});

describe('ThrottleClient', () => {
  it('does not send when the deadline has passed, and applies the fail mode (read per call)', async () => {
    let closed = false;
    const seen: ThrottleFallback[] = [];
    const client = new ThrottleClient(untouchable, { failClosed: () => closed, failClosedMessage: () => 'closed now', onFallback: (f) => seen.push(f) });
    const request = { kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1' } as const;
    expect(await client.check(request, new Deadline(0))).toEqual({ verdict: 'allow' });
    closed = true;
    expect(await client.check(request, new Deadline(0))).toEqual({ verdict: 'deny', reason: 'ip', message: 'closed now' });
    expect(seen.map((f) => [f.kind, f.code, f.verdict])).toEqual([
      ['connect', 'TIMEOUT', 'allow'],
      ['connect', 'TIMEOUT', 'deny'],
    ]);
  });

  it('applies the fail mode to an error the service answers, not only to silence', async () => {
    // A bus that answers every request with the service's INTERNAL error.
    const answersInternal = busAnswering(() => ({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } }));
    const seen: ThrottleFallback[] = [];
    const client = new ThrottleClient(answersInternal, { failClosed: true, onFallback: (f) => seen.push(f) });
    expect(await client.check({ kind: 'pre-login', protocol: 'imap', clientIp: '192.0.2.1', user: 'bob@example.com' }, new Deadline(1000))).toEqual({
      verdict: 'deny',
      reason: 'ip',
      message: Settings.zimbraReverseProxyIpThrottleMsg.default,
    });
    expect(seen.map((f) => f.code)).toEqual(['INTERNAL']);
  });

  it('keeps the verdict when the fallback callback throws', async () => {
    const client = new ThrottleClient(untouchable, {
      onFallback: () => {
        throw new Error('metrics broke');
      },
    });
    expect(await client.check({ kind: 'connect', protocol: 'pop3', clientIp: '192.0.2.1' }, new Deadline(0))).toEqual({ verdict: 'allow' });
  });

  it('gives every check an id of its own, and a check of a session with a dead bus the fail mode at once', async () => {
    const ids: string[] = [];
    const bus = busAnswering((request) => {
      ids.push((request as { checkId: string }).checkId);
      return { ok: true, result: { verdict: 'allow' } };
    });
    const client = new ThrottleClient(bus, { failClosed: true });
    const request = { kind: 'login-failed', protocol: 'imap', clientIp: '192.0.2.1', user: 'bob@example.com', requestId: 'session1' } as const;
    await client.check(request, new Deadline(1000));
    await client.check(request, new Deadline(1000));
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);

    const seen: ThrottleFallback[] = [];
    const closedBus = { ...bus, isClosed: () => true };
    const offline = new ThrottleClient(closedBus, { failClosed: true, onFallback: (f) => seen.push(f) });
    expect(await offline.check({ kind: 'connect', protocol: 'imap', clientIp: '192.0.2.1' }, new Deadline(60_000))).toMatchObject({ verdict: 'deny' });
    expect(seen.map((f) => f.code)).toEqual(['UNAVAILABLE']);
    expect(ids).toHaveLength(2);
  });
});

describe('AllowAllThrottle', () => {
  it('allows everything', async () => {
    expect(await new AllowAllThrottle().check()).toEqual({ verdict: 'allow' });
  });
});
