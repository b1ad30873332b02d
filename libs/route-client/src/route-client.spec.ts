import { Settings } from '@postern/config';
import { Deadline, type NatsConnection } from '@postern/service-kit';
import { describe, expect, it } from 'vitest';
import { RouteClient } from './route-client';

// The NATS paths run against a real nats-server in test/integration/route-lookup.test.ts; here only
// the budget a lookup is sent with.
/** A connection that is up, remembers each request and answers NOT_FOUND. */
function busRemembering(seen: unknown[]): NatsConnection {
  return {
    isClosed: () => false,
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) }),
    request: async (_subject: string, data: Uint8Array) => {
      seen.push(JSON.parse(new TextDecoder().decode(data)));
      return { data: new TextEncoder().encode(JSON.stringify({ ok: true, result: { outcome: 'NOT_FOUND', waitMs: 10_000 } })) };
    },
  } as unknown as NatsConnection;
}

const query = { login: 'alice@example.com', protocol: 'imap', clientIp: '192.0.2.7' } as const;

describe('RouteClient', () => {
  it("sends a lookup with posternRouteLookupRequestTimeout's default as its budget when given none", async () => {
    const seen: unknown[] = [];
    const result = await new RouteClient(busRemembering(seen), undefined).resolve(query, new Deadline(600_000));
    expect(result).toEqual({ outcome: 'NOT_FOUND', waitMs: 10_000 });
    expect(seen).toEqual([expect.objectContaining({ user: 'alice@example.com', deadlineMs: Settings.posternRouteLookupRequestTimeout.default })]);
  });

  it("sends it with the login's remaining time when that is shorter, and with the budget given (read per lookup)", async () => {
    const seen: unknown[] = [];
    let budget = 1234;
    const client = new RouteClient(busRemembering(seen), undefined, undefined, { timeoutMs: () => budget });
    await client.resolve(query, new Deadline(600_000));
    budget = 2345;
    await client.resolve(query, new Deadline(600_000));
    expect(seen.map((r) => (r as { deadlineMs: number }).deadlineMs)).toEqual([1234, 2345]);
  });
});
