/**
 * The login flow over fake ports, without a client socket: each step's outcome, the order of the
 * throttle checks, and that the upstream is hung up whenever the login does not end in a splice.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { resolveSettings } from '@postern/config';
import { secret, type RouteLookupResult, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LoginAbort, runLogin, type LoginContext, type LoginPorts, type UpstreamAnswer, type UpstreamLogin } from './login-flow';
import { MailProxyMetrics } from '../mail-proxy.metrics';

/** A stand-in for the upstream socket: records whether it was destroyed. */
class FakeSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: Buffer, _encoding: string, done: () => void): void {
    done();
  }
}

const route: RouteLookupResult = {
  outcome: 'ROUTE',
  source: 'cache',
  route: { host: '127.0.0.1', port: 1, accountName: 'bob@example.com', accountId: 'id', upstreamUser: 'bob@example.com', external: false },
};

function setup(
  options: {
    found?: RouteLookupResult;
    verdicts?: Partial<Record<ThrottleCheckRequest['kind'], ThrottleCheckResult>>;
    answer?: UpstreamAnswer;
    abortAt?: 'route';
    /** The login as typed (default `bob`, unqualified). */
    user?: string;
    /** A user whose pre-login check is denied. */
    deniedUser?: string;
  } = {},
) {
  const checks: ThrottleCheckRequest['kind'][] = [];
  /** The route lookups and the checks, in the order they were asked for, with the user checked. */
  const events: string[] = [];
  const forgotten: string[] = [];
  const socket = new FakeSocket();
  const controller = new LoginAbort();
  const ports: LoginPorts = {
    routes: {
      resolve: async () => {
        events.push('route');
        if (options.abortAt === 'route') controller.abort();
        return options.found ?? route;
      },
      forget: async (account) => void forgotten.push(account),
    },
    throttle: {
      check: async (request) => {
        checks.push(request.kind);
        events.push(`${request.kind} ${request.user ?? ''}`);
        if (request.kind === 'pre-login' && request.user === options.deniedUser) return { verdict: 'deny', reason: 'user', message: 'Too many logins' };
        return options.verdicts?.[request.kind] ?? { verdict: 'allow' };
      },
    },
    upstreams: { connect: async () => socket as unknown as Socket },
    metrics: new MailProxyMetrics(new Registry()),
  };
  const protocolLogin: UpstreamLogin<{ raw: Uint8Array }, null> = {
    createReader: () => ({ push: () => [], drainBuffered: () => new Uint8Array() }),
    greeting: async () => null,
    credentials: async () => options.answer ?? { kind: 'ok', reply: Buffer.from('a OK Logged in\r\n') },
  };
  const silent = () => undefined;
  const context: LoginContext = {
    protocol: 'imap',
    settings: resolveSettings({ overrides: { zimbraReverseProxyAuthWaitInterval: '1ms', zimbraReverseProxySSLToUpstreamEnabled: false } }),
    clientIp: '192.0.2.1',
    clientPort: 40000,
    proxyIp: '127.0.0.1',
    requestId: 'r1',
    signal: controller,
    log: { debug: silent, info: silent, warn: silent, error: silent, clientMistake: silent },
    relay: silent,
  };
  const run = () => runLogin(ports, context, { user: options.user ?? 'bob', password: secret('pw'), authzid: undefined }, protocolLogin);
  return { run, checks, events, forgotten, socket };
}

describe('runLogin', () => {
  it('logs in: route, pre-login check, upstream login, then the success is counted', async () => {
    const { run, checks, socket } = setup();
    const result = await run();
    expect(result).toMatchObject({ kind: 'ok', route: { accountName: 'bob@example.com' } });
    expect(checks).toEqual(['pre-login', 'login-succeeded']);
    expect(socket.destroyed).toBe(false);
  });

  it('refuses an unknown user after the wait, and reports it as a failed login', async () => {
    const { run, checks } = setup({ found: { outcome: 'NOT_FOUND', waitMs: 0 } });
    expect(await run()).toEqual({ kind: 'refused', outcome: 'not_found' });
    expect(checks).toEqual(['login-failed']);
  });

  it('relays the upstream refusal, forgets the cached route and hangs up', async () => {
    const reply = Buffer.from('a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n');
    const { run, forgotten, socket, checks } = setup({ answer: { kind: 'refused', reply, refusal: true } });
    expect(await run()).toEqual({ kind: 'refused', outcome: 'rejected', reply, route: route.outcome === 'ROUTE' ? route.route : undefined });
    expect(forgotten).toEqual(['bob@example.com']);
    expect(checks).toEqual(['pre-login', 'login-failed']);
    expect(socket.destroyed).toBe(true);
  });

  it("passes on the mailbox server's BYE for what it is, not as an outage", async () => {
    const reply = Buffer.from('* BYE Server shutting down\r\n');
    const { run, socket } = setup({ answer: { kind: 'bye', reply } });
    expect(await run()).toEqual({ kind: 'bye', reply, route: route.outcome === 'ROUTE' ? route.route : undefined });
    expect(socket.destroyed).toBe(true);
  });

  it('stops at a throttle denial before the credentials, and closes the upstream unused', async () => {
    const { run, socket } = setup({ verdicts: { 'pre-login': { verdict: 'deny', reason: 'user', message: 'Too many logins' } } });
    expect(await run()).toEqual({ kind: 'throttled', message: 'Too many logins', reason: 'user', route: route.outcome === 'ROUTE' ? route.route : undefined });
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(true);
  });

  it('pre-checks a qualified login together with its route read, once when it names the account', async () => {
    const { run, events } = setup({ user: 'Bob@Example.COM' });
    expect(await run()).toMatchObject({ kind: 'ok' });
    // Asked for before the route lookup, in the same turn: one memcached write carries both.
    expect(events).toEqual(['pre-login Bob@Example.COM', 'route', 'login-succeeded bob@example.com']);
  });

  it("pre-checks an alias's account once more, and that verdict decides", async () => {
    const { run, events, socket } = setup({ user: 'robert@example.com', deniedUser: 'bob@example.com' });
    expect(await run()).toEqual({ kind: 'throttled', message: 'Too many logins', reason: 'user', route: route.outcome === 'ROUTE' ? route.route : undefined });
    expect(events).toEqual(['pre-login robert@example.com', 'route', 'pre-login bob@example.com']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(true);
  });

  it('does not pre-check a login the contract refuses, nor an unqualified one, before its route', async () => {
    for (const user of ['bob', ' bob@example.com']) {
      const { run, events } = setup({ user });
      await run();
      expect(events[0]).toBe('route');
    }
  });

  it('ends as aborted when the client leaves, counting nothing', async () => {
    const { run, checks } = setup({ abortAt: 'route' });
    expect(await run()).toEqual({ kind: 'aborted' });
    expect(checks).toEqual([]);
  });
});

describe('LoginAbort', () => {
  it('runs the hook once, on abort', () => {
    const abort = new LoginAbort();
    let calls = 0;
    abort.onAbort(() => calls++);
    abort.abort();
    abort.abort();
    expect([abort.aborted, calls]).toEqual([true, 1]);
  });

  it('runs a hook given after the abort at once, and never one that was forgotten', () => {
    const late = new LoginAbort();
    late.abort();
    let lateCalls = 0;
    late.onAbort(() => lateCalls++);
    const early = new LoginAbort();
    let forgottenCalls = 0;
    early.onAbort(() => forgottenCalls++)();
    early.abort();
    expect([lateCalls, forgottenCalls]).toEqual([1, 0]);
  });
});
