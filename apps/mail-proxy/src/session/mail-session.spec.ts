/**
 * The session's own rules, with the route lookup, throttle and upstream replaced by fakes (the
 * integration tests run the real ones): the greeting waits for the connect check, a client that
 * talks first is dropped, limits answer as documented, and failures of the dependencies are
 * temporary failures, never a pass.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { resolveSettings } from '@postern/config';
import { ErrorCode, PosternError, type RouteLookupResult, type ThrottleCheckRequest, type ThrottleCheckResult } from '@postern/contracts';
import type { RouteResolverPort } from '@postern/route-client';
import { createLogger } from '@postern/service-kit';
import type { ThrottlePort } from '@postern/throttle-client';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createImapSession } from '../imap/imap-session';
import { MailProxyMetrics } from '../mail-proxy.metrics';
import { createPop3Session } from '../pop3/pop3-session';
import type { Session, SessionDeps } from './session';
import type { UpstreamConnector } from '../upstream/upstream';

/** Just enough of a line client for these transcripts (the integration tests use the harness's). */
class LineClient {
  private buffer = '';
  private ended = false;
  private wake: (() => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffer += text;
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }
  static connect({ port }: { port: number }): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' }, () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }
  send(text: string): void {
    this.socket.write(text);
  }
  async line(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      if (this.ended) throw new Error(`connection closed (unread: ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
  async until(prefix: string): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      lines.push(await this.line());
      if (lines.at(-1)!.startsWith(prefix)) return lines;
    }
  }
  async closedByServer(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
  }
  /** Sends FIN: nothing more from this client, replies still welcome. */
  halfClose(): void {
    this.socket.end();
  }
  close(): void {
    this.socket.destroy();
  }
  /** Leaves with a reset (RST): a client gone for good, not one that half-closed. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

/** A throttle whose connect check waits until released, and which records every request. */
class ScriptedThrottle implements ThrottlePort {
  readonly requests: ThrottleCheckRequest[] = [];
  private release: (() => void) | undefined;
  private readonly gate: Promise<void>;
  constructor(
    private readonly verdicts: Partial<Record<ThrottleCheckRequest['kind'], ThrottleCheckResult>> = {},
    held = false,
  ) {
    this.gate = held ? new Promise((resolve) => (this.release = resolve)) : Promise.resolve();
  }
  open(): void {
    this.release?.();
  }
  async check(request: ThrottleCheckRequest): Promise<ThrottleCheckResult> {
    this.requests.push(request);
    if (request.kind === 'connect') await this.gate;
    return this.verdicts[request.kind] ?? { verdict: 'allow' };
  }
}

const refusingUpstreams: UpstreamConnector = {
  connect: async () => {
    throw new PosternError(ErrorCode.Unavailable, 'connection refused');
  },
};

function routes(result: RouteLookupResult | Error): RouteResolverPort {
  return {
    resolve: async () => {
      if (result instanceof Error) throw result;
      return result;
    },
    forget: async () => undefined,
  };
}

interface Harness {
  port: number;
  metrics: MailProxyMetrics;
  registry: Registry;
  sessions: Session[];
  /** The server side of each accepted connection. */
  sockets: Socket[];
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(protocol: 'imap' | 'pop3', overrides: Partial<SessionDeps>, attributes: Record<string, unknown> = {}): Promise<Harness> {
  const registry = new Registry();
  const metrics = new MailProxyMetrics(registry);
  const settings = resolveSettings({
    overrides: {
      zimbraReverseProxyAuthWaitInterval: '10ms',
      zimbraReverseProxyImapStartTlsMode: 'off',
      zimbraReverseProxyPop3StartTlsMode: 'off',
      ...attributes,
    },
  });
  const deps: SessionDeps = {
    settings: () => settings,
    routes: routes({ outcome: 'NOT_FOUND', waitMs: 0 }),
    throttle: new ScriptedThrottle(),
    upstreams: refusingUpstreams,
    metrics,
    logger: createLogger('mail-proxy-spec', process.env.SPEC_LOG ?? 'silent'),
    tls: undefined,
    version: '0.0.0-spec',
    ...overrides,
  };
  const sessions: Session[] = [];
  const sockets: Socket[] = [];
  // Half-open as the real listeners are: a client's FIN leaves the session to answer and close.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const create = protocol === 'imap' ? createImapSession : createPop3Session;
    sockets.push(socket);
    sessions.push(create({ socket, protocol, implicitTls: false, id: `s${sessions.length}` }, deps));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, metrics, registry, sessions, sockets };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (found?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((sum, v) => sum + v.value, 0);
}

/** Plain TCP to the route's host and port (the fake mailbox servers below). */
const tcpConnector: UpstreamConnector = {
  connect: (target) =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port }, () => resolve(socket));
      socket.once('error', reject);
    }),
};

/** bob's route, to a mailbox server on this port. */
function routeTo(port: number): RouteLookupResult {
  return {
    outcome: 'ROUTE',
    source: 'cache',
    route: { host: '127.0.0.1', port, accountName: 'bob@example.com', accountId: 'id', upstreamUser: 'bob@example.com', external: false },
  };
}

/** A scripted mailbox server: greets, records every line it receives, and answers through `reply`. */
async function fakeMailbox(reply: (line: string, socket: Socket) => void, greeting: string): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket) => {
    let buffer = '';
    socket.write(`${greeting}\r\n`);
    socket.on('data', (data: Buffer) => {
      buffer += data.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        seen.push(line);
        reply(line, socket);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, seen };
}

/** Polls `probe` until it holds (a test's own deadline bounds it). */
async function until(probe: () => Promise<boolean>): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setImmediate(resolve));
}

describe('a session before login', () => {
  it('greets only after the connect check, and drops a client that talks first', async () => {
    const throttle = new ScriptedThrottle({}, true);
    const { port, registry } = await listen('imap', { throttle });
    const client = await LineClient.connect({ port });
    client.send('a1 LOGIN bob secret\r\n');
    expect(await client.line()).toBe('* BYE Wait for the greeting');
    await client.closedByServer();
    throttle.open();
    expect(await metric(registry, 'postern_mail_limit_violations_total', { limit: 'talked-before-greeting' })).toBe(1);
    // The login was never looked at: only the connect check reached the throttle.
    expect(throttle.requests.map((r) => r.kind)).toEqual(['connect']);
  });

  it('greets a client that half-closed during the connect check, then closes', async () => {
    const throttle = new ScriptedThrottle({}, true);
    const { port, registry, sockets } = await listen('imap', { throttle });
    const client = await LineClient.connect({ port });
    client.halfClose();
    // The FIN has reached the session before its greeting.
    await until(async () => sockets[0]?.readableEnded === true);
    throttle.open();
    expect(await client.line()).toMatch(/^\* OK /);
    await client.closedByServer();
    expect(await metric(registry, 'postern_mail_sessions', {})).toBe(0);
  });

  it('says the IP message instead of a greeting when the connect check denies', async () => {
    const throttle = new ScriptedThrottle({ connect: { verdict: 'deny', reason: 'ip', message: 'Slow down' } });
    const imap = await listen('imap', { throttle });
    const c = await LineClient.connect({ port: imap.port });
    expect(await c.line()).toBe('* BYE Slow down');
    await c.closedByServer();
    const pop3 = await listen('pop3', { throttle });
    const p = await LineClient.connect({ port: pop3.port });
    expect(await p.line()).toBe('-ERR Slow down');
    await p.closedByServer();
  });

  it('closes after too many invalid commands', async () => {
    const { port, registry } = await listen('imap', {});
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('x FETCH 1\r\n'.repeat(10));
    const lines = await c.until('* BYE');
    expect(lines.filter((l) => l === 'x BAD Command not valid before login')).toHaveLength(10);
    expect(lines.at(-1)).toBe('* BYE Too many invalid commands');
    await c.closedByServer();
    expect(await metric(registry, 'postern_mail_limit_violations_total', { limit: 'too-many-bad-commands' })).toBe(1);
  });

  it('refuses an unknown user like a wrong password, and reports it as a failure of the address', async () => {
    const throttle = new ScriptedThrottle();
    const { port, registry } = await listen('imap', { throttle });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a LOGIN nobody@example.com secret\r\n');
    expect(await c.line()).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed');
    expect(throttle.requests.find((r) => r.kind === 'login-failed')).toMatchObject({ user: 'nobody@example.com', clientIp: '127.0.0.1' });
    expect(await metric(registry, 'postern_mail_logins_total', { protocol: 'imap', outcome: 'not_found' })).toBe(1);
    c.close();
  });

  it('gives a temporary failure when the lookup or the mailbox server is down, never a pass', async () => {
    const lookupDown = await listen('pop3', { routes: routes(new PosternError(ErrorCode.Unavailable, 'no lookup service')) });
    const p = await LineClient.connect({ port: lookupDown.port });
    await p.line();
    p.send('USER bob@example.com\r\nPASS secret\r\n');
    expect(await p.line()).toBe('+OK');
    expect(await p.line()).toBe('-ERR [SYS/TEMP] Service temporarily unavailable, try again later');
    p.close();

    const route = {
      outcome: 'ROUTE',
      source: 'cache',
      route: { host: '127.0.0.1', port: 1, accountName: 'bob@example.com', accountId: 'id', upstreamUser: 'bob@example.com', external: false },
    } as const;
    const upstreamDown = await listen('imap', { routes: routes(route) });
    const c = await LineClient.connect({ port: upstreamDown.port });
    await c.line();
    c.send('a LOGIN bob@example.com secret\r\n');
    expect(await c.line()).toBe('a NO [UNAVAILABLE] Service temporarily unavailable, try again later');
    c.close();
  });

  it('survives a command pipelined after AUTHENTICATE: it is the SASL response, not a command', async () => {
    const { port } = await listen('imap', {});
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a NOOP\r\nb AUTHENTICATE PLAIN\r\nc X {5}\r\n');
    expect(await c.line()).toBe('a OK NOOP completed');
    expect(await c.line()).toBe('+ ');
    expect(await c.line()).toBe('b BAD Invalid SASL response');
    c.send('d NOOP\r\n');
    expect(await c.line()).toBe('d OK NOOP completed');
    c.close();
  });

  it('closes the upstream and counts nothing when the client resets the connection during the login', async () => {
    // A mailbox server that greets at once and answers LOGIN only once the client has gone.
    let loginSeen!: () => void;
    let upstreamClosed!: () => void;
    const seen = new Promise<void>((resolve) => (loginSeen = resolve));
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    let answer: (() => void) | undefined;
    const upstream = createServer((socket) => {
      socket.write('* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n');
      socket.on('data', (data: Buffer) => {
        if (!/LOGIN/.test(data.toString('latin1'))) return;
        answer = () => socket.writable && socket.write('p2 OK Logged in\r\n');
        loginSeen();
      });
      socket.on('close', upstreamClosed);
    });
    servers.push(upstream);
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const route = routeTo(upstreamPort);
    const throttle = new ScriptedThrottle();
    const { port, registry } = await listen('imap', { routes: routes(route), upstreams: tcpConnector, throttle }, { zimbraReverseProxySendImapId: false });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a LOGIN bob@example.com secret\r\n');
    await seen;
    // A FIN would be a half-close, answered after the login; a reset is a client gone.
    c.reset();
    // Once the proxy has seen the client go (its pre-auth session count drops), the upstream says OK.
    await until(async () => (await metric(registry, 'postern_mail_sessions', { state: 'preauth' })) === 0);
    answer!();
    // The proxy must hang up on the mailbox server rather than splice onto a client that left.
    await closed;
    await until(async () => (await metric(registry, 'postern_mail_logins_total', { outcome: 'aborted' })) === 1);
    expect(await metric(registry, 'postern_mail_logins_total', { outcome: 'ok' })).toBe(0);
    expect(await metric(registry, 'postern_mail_sessions', {})).toBe(0);
    expect(throttle.requests.some((r) => r.kind === 'login-succeeded')).toBe(false);
  });

  it('logs in to a server without LITERAL+, relaying an alert it sends before its continuation', async () => {
    // A mailbox server that takes only synchronizing literals and speaks up before each "+".
    const { port: upstreamPort, seen } = await fakeMailbox((line, socket) => {
      if (/^p1 ID /.test(line)) socket.write('* ID NIL\r\np1 OK ID completed\r\n');
      else if (/^p2 LOGIN \{\d+\}$/.test(line)) socket.write('* OK [ALERT] Maintenance tonight\r\n+ go on\r\n');
      else if (/\{\d+\}$/.test(line)) socket.write('+ go on\r\n');
      else socket.write('p2 OK Logged in\r\n');
    }, '* OK [CAPABILITY IMAP4rev1 ID] ready');
    const route = routeTo(upstreamPort);
    const { port } = await listen('imap', { routes: routes(route), upstreams: tcpConnector });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a LOGIN bob secret\r\n');
    expect(await c.until('a ')).toEqual(['* OK [ALERT] Maintenance tonight', 'a OK Logged in']);
    // The proxy's own tags upstream (p1 for ID, p2 for the login); the client sees its own.
    expect(seen.slice(1)).toEqual(['p2 LOGIN {15}', 'bob@example.com {6}', 'secret']);
    c.close();
  });

  it('counts literal continuations like commands, so they cannot be asked for without end', async () => {
    const { port, registry } = await listen('imap', {});
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a X {0}\r\n' + '{0}\r\n'.repeat(60));
    const lines = await c.until('* BYE');
    expect(lines.at(-1)).toBe('* BYE Too many commands before login');
    expect(lines.filter((l) => l.startsWith('+ ')).length).toBeLessThanOrEqual(50);
    expect(await metric(registry, 'postern_mail_limit_violations_total', { limit: 'too-many-commands' })).toBe(1);
  });

  it("delegated SASL: the client's own identity authenticates upstream, for the routed account", async () => {
    const upstream = await fakeMailbox((line, socket) => {
      if (/^p2 AUTHENTICATE PLAIN /.test(line)) socket.write('p2 OK Logged in\r\n');
      else if (/^p1 ID /.test(line)) socket.write('p1 OK ID completed\r\n');
    }, '* OK [CAPABILITY IMAP4rev1 SASL-IR ID] ready');
    const { port } = await listen('imap', { routes: routes(routeTo(upstream.port)), upstreams: tcpConnector });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send(`a AUTHENTICATE PLAIN ${Buffer.from('bob\0admin@example.com\0admin-pw').toString('base64')}\r\n`);
    expect(await c.line()).toBe('a OK Logged in');
    const sent = upstream.seen.find((l) => l.startsWith('p2 AUTHENTICATE PLAIN '))!;
    expect(Buffer.from(sent.split(' ')[3]!, 'base64').toString()).toBe('bob@example.com\0admin@example.com\0admin-pw');
    c.close();
  });

  it('POP3: a server without XCLIENT gets the client address as XOIP, then USER and PASS', async () => {
    const upstream = await fakeMailbox((_line, socket) => socket.write('+OK\r\n'), '+OK POP3 ready');
    const { port } = await listen('pop3', { routes: routes(routeTo(upstream.port)), upstreams: tcpConnector });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('USER bob\r\nPASS secret\r\n');
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toBe('+OK');
    expect(upstream.seen).toEqual(['XOIP 127.0.0.1', 'USER bob@example.com', 'PASS secret']);
    c.close();
  });

  it('bounds what a client may send while its login is relayed', async () => {
    // A mailbox server that never answers the login.
    const upstream = await fakeMailbox(() => undefined, '* OK [CAPABILITY IMAP4rev1 LITERAL+] ready');
    const { port, registry } = await listen(
      'imap',
      { routes: routes(routeTo(upstream.port)), upstreams: tcpConnector },
      { zimbraReverseProxySendImapId: false },
    );
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('a LOGIN bob secret\r\n');
    await until(async () => upstream.seen.some((l) => l.includes('LOGIN')));
    c.send(`b APPEND INBOX {70000+}\r\n${'x'.repeat(70_000)}\r\n`);
    expect(await c.line()).toBe('* BYE Too much data before the login completed');
    await c.closedByServer();
    expect(await metric(registry, 'postern_mail_limit_violations_total', { limit: 'too-much-during-login' })).toBe(1);
  });

  it('refuses a password over the limit without asking anyone', async () => {
    const throttle = new ScriptedThrottle();
    const { port } = await listen('imap', { throttle });
    const c = await LineClient.connect({ port });
    await c.line();
    c.send(`a LOGIN bob {1025+}\r\n${'p'.repeat(1025)}\r\n`);
    expect(await c.line()).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed');
    expect(throttle.requests.map((r) => r.kind)).toEqual(['connect']);
    c.close();
  });
});

describe('OAuth 2.0 bearer logins (OAUTHBEARER, XOAUTH2)', () => {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const unb64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');
  const challenge = b64('{"status":"401","schemes":"bearer","scope":"mail"}');
  const bearerOn = { posternImapSaslXOAuth2Enabled: true, posternPop3SaslOAuthBearerEnabled: true, zimbraReverseProxySendImapId: false };

  it("IMAP XOAUTH2: the user it names routes it; a refusal is relayed in the mechanism's form, the upstream's challenge included", async () => {
    // No SASL-IR upstream: the response goes after its `+`; the refusal is a challenge, then NO.
    const upstream = await fakeMailbox((line, socket) => {
      if (line === 'p2 AUTHENTICATE XOAUTH2') socket.write('+ \r\n');
      else if (line.startsWith('dXNlcj')) socket.write(`+ ${challenge}\r\n`);
      else if (line === '') socket.write('p2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n');
    }, '* OK [CAPABILITY IMAP4rev1] ready');
    const throttle = new ScriptedThrottle();
    const { port } = await listen('imap', { routes: routes(routeTo(upstream.port)), upstreams: tcpConnector, throttle }, bearerOn);
    const c = await LineClient.connect({ port });
    expect(await c.line()).toMatch(/AUTH=PLAIN AUTH=XOAUTH2/);
    c.send(`a1 AUTHENTICATE XOAUTH2 ${b64('user=bob\x01auth=Bearer tok-123\x01\x01')}\r\n`);
    expect(await c.line()).toBe(`+ ${challenge}`);
    c.send('\r\n');
    expect(await c.line()).toBe('a1 NO [AUTHENTICATIONFAILED] Authentication failed.');
    // Upstream: the account's name with the same token, and the empty acknowledgement of the challenge.
    expect(upstream.seen.map((l) => (l.startsWith('dXNlcj') ? unb64(l) : l))).toEqual([
      'p2 AUTHENTICATE XOAUTH2',
      'user=bob@example.com\x01auth=Bearer tok-123\x01\x01',
      '',
    ]);
    expect(throttle.requests.map((r) => r.kind)).toContain('login-failed');
    c.close();
  });

  it('POP3 OAUTHBEARER: the initial response, the same mechanism and token upstream, and its +OK', async () => {
    const upstream = await fakeMailbox((line, socket) => socket.write(line.startsWith('AUTH') ? '+OK Logged in.\r\n' : '+OK\r\n'), '+OK POP3 ready');
    const { port } = await listen('pop3', { routes: routes(routeTo(upstream.port)), upstreams: tcpConnector }, bearerOn);
    const c = await LineClient.connect({ port });
    await c.line();
    c.send('CAPA\r\n');
    expect(await c.until('.')).toContain('SASL PLAIN OAUTHBEARER');
    c.send(`AUTH OAUTHBEARER ${b64('n,a=bob,\x01host=postern.test\x01port=110\x01auth=Bearer tok-456\x01\x01')}\r\n`);
    expect(await c.line()).toBe('+OK Logged in.');
    const auth = upstream.seen.find((l) => l.startsWith('AUTH OAUTHBEARER '))!;
    expect(unb64(auth.split(' ')[2]!)).toBe('n,a=bob@example.com,\x01auth=Bearer tok-456\x01\x01');
    c.close();
  });

  it('refuses a mechanism that is off, and a message that is not one of the mechanism, without asking anyone', async () => {
    const throttle = new ScriptedThrottle();
    const { port } = await listen('imap', { throttle }, bearerOn);
    const c = await LineClient.connect({ port });
    await c.line();
    c.send(`a1 AUTHENTICATE OAUTHBEARER ${b64('n,a=bob,\x01auth=Bearer t\x01\x01')}\r\n`);
    expect(await c.line()).toBe('a1 NO [CANNOT] Unsupported authentication mechanism');
    c.send('a2 AUTHENTICATE XOAUTH2\r\n');
    expect(await c.line()).toBe('+ ');
    c.send(`${b64('user=bob\x01auth=Basic Ym9iOnB3\x01\x01')}\r\n`);
    expect(await c.line()).toBe('a2 BAD Invalid SASL bearer token response');
    expect(throttle.requests.map((r) => r.kind)).toEqual(['connect']);
    c.close();
  });
});
