/**
 * GSSAPI at the session: what IMAP and POP3 advertise (Zimbra's rules), and the login that follows
 * a verified principal (route by principal, the master user's SASL PLAIN upstream, the client's
 * tag on the answer), with a scripted security context and a scripted mailbox server; the real
 * KDC, keytab and Dovecot are in test/integration/mail-gssapi.test.ts.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { resolveSettings } from '@postern/config';
import { secret, type RouteLookupResult } from '@postern/contracts';
import type { SecurityContext } from '@postern/gssapi';
import type { RouteQuery, RouteResolverPort } from '@postern/route-client';
import { createLogger } from '@postern/service-kit';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { GssapiPort } from './gssapi-login';
import { createImapSession } from '../imap/imap-session';
import { MailProxyMetrics } from '../mail-proxy.metrics';
import { createPop3Session } from '../pop3/pop3-session';
import type { SessionDeps } from '../session/session';
import type { UpstreamConnector } from '../upstream/upstream';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listening(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Reads CRLF lines from a socket. */
function lines(socket: Socket): () => Promise<string> {
  let buffer = '';
  const waiting: (() => void)[] = [];
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    buffer += text;
    waiting.splice(0).forEach((wake) => wake());
  });
  return async () => {
    for (;;) {
      const end = buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return line;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
}

/** A context that accepts `good` as a complete token for alice, refuses anything else; wrap is the identity. */
function scriptedContext(): SecurityContext {
  let principal: string | undefined;
  return {
    step(token) {
      if (token.toString() !== 'good') throw new Error('accept: Request is a replay');
      principal = 'alice@EXAMPLE.COM';
      return { complete: true, output: Buffer.alloc(0) };
    },
    get principal() {
      return principal;
    },
    wrap: (data) => data,
    unwrap: (data) => data,
    dispose: () => undefined,
  };
}

const gssapi: GssapiPort = { credentials: () => ({ context: scriptedContext }), masterPassword: secret('master-secret') };

/** A mailbox server that logs in a master user's SASL PLAIN for an account (IMAP), recording what it got. */
async function masterMailbox(): Promise<{ port: number; logins: string[] }> {
  const logins: string[] = [];
  const port = await listening(
    createServer((socket) => {
      const next = lines(socket);
      socket.write('* OK [CAPABILITY IMAP4rev1 SASL-IR] ready\r\n');
      void (async () => {
        for (;;) {
          const [tag, verb, , response] = (await next()).split(' ');
          if (verb === 'AUTHENTICATE') {
            logins.push(
              Buffer.from(response ?? '', 'base64')
                .toString()
                .replace(/\0/g, '|'),
            );
            socket.write(`${tag} OK Logged in\r\n`);
          } else socket.write(`${tag} OK\r\n`);
        }
      })().catch(() => undefined);
    }),
  );
  return { port, logins };
}

/** A route resolver that answers alice's route and records the queries. */
function recordingRoutes(port: number, queries: RouteQuery[]): RouteResolverPort {
  const route: RouteLookupResult = {
    outcome: 'ROUTE',
    source: 'directory',
    route: { host: '127.0.0.1', port, accountName: 'alice@example.com', accountId: 'id', upstreamUser: 'alice@example.com', external: false },
  };
  return {
    resolve: async (query) => {
      queries.push(query);
      return route;
    },
    forget: async () => undefined,
  };
}

const tcp: UpstreamConnector = {
  connect: (target) =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port }, () => resolve(socket));
      socket.once('error', reject);
    }),
};

async function proxy(protocol: 'imap' | 'pop3', attributes: Record<string, unknown>, overrides: Partial<SessionDeps> = {}) {
  const settings = resolveSettings({ overrides: { zimbraReverseProxyAuthWaitInterval: '10ms', ...attributes } });
  const deps: SessionDeps = {
    settings: () => settings,
    routes: recordingRoutes(1, []),
    throttle: { check: async () => ({ verdict: 'allow' }) },
    upstreams: tcp,
    metrics: new MailProxyMetrics(new Registry()),
    logger: createLogger('gssapi-spec', process.env.SPEC_LOG ?? 'silent'),
    // STARTTLS is offered whenever there is a context: enough for what is advertised.
    tls: createSecureContext(),
    version: '0.0.0-spec',
    ...overrides,
  };
  const port = await listening(
    createServer({ allowHalfOpen: true }, (socket) =>
      (protocol === 'imap' ? createImapSession : createPop3Session)({ socket, protocol, implicitTls: false, id: 's1' }, deps),
    ),
  );
  const socket = connect({ port, host: '127.0.0.1' });
  const next = lines(socket);
  await next();
  return { send: (text: string) => socket.write(text), next, close: () => socket.destroy() };
}

const ON = { zimbraReverseProxyImapSaslGssapiEnabled: true, zimbraReverseProxyPop3SaslGssapiEnabled: true };

describe('GSSAPI at the session', () => {
  it.each([
    ['only', {}, 'AUTH=GSSAPI STARTTLS LOGINDISABLED'],
    ['on', {}, 'AUTH=PLAIN AUTH=GSSAPI STARTTLS'],
    ['off', {}, 'AUTH=PLAIN AUTH=GSSAPI'],
    ['on', { zimbraReverseProxyImapSaslGssapiEnabled: false }, 'AUTH=PLAIN STARTTLS'],
  ])('IMAP CAPABILITY, starttls %s %o: … %s', async (mode, extra, tail) => {
    const client = await proxy('imap', { ...ON, zimbraReverseProxyImapStartTlsMode: mode, ...extra });
    client.send('c CAPABILITY\r\n');
    expect(await client.next()).toMatch(new RegExp(` ${tail}$`));
    client.close();
  });

  it.each([
    ['only', 'SASL GSSAPI'],
    ['on', 'SASL PLAIN GSSAPI'],
  ])('POP3 CAPA, starttls %s: %s', async (mode, sasl) => {
    const client = await proxy('pop3', { ...ON, zimbraReverseProxyPop3StartTlsMode: mode });
    client.send('CAPA\r\n');
    const caps: string[] = [];
    for (let line = await client.next(); line !== '.'; line = await client.next()) caps.push(line);
    expect(caps).toContain(sasl);
    client.close();
  });

  it('off by default: AUTHENTICATE GSSAPI is an unsupported mechanism', async () => {
    const client = await proxy('imap', { zimbraReverseProxyImapStartTlsMode: 'off' }, { gssapi });
    client.send('a AUTHENTICATE GSSAPI Z29vZA==\r\n');
    expect(await client.next()).toBe('a NO [CANNOT] Unsupported authentication mechanism');
    client.close();
  });

  it('a verified principal logs in upstream as its account with the master user, before STARTTLS in "only" mode', async () => {
    const mailbox = await masterMailbox();
    const queries: RouteQuery[] = [];
    const client = await proxy('imap', ON, { gssapi, routes: recordingRoutes(mailbox.port, queries) });
    client.send(`a1 AUTHENTICATE GSSAPI ${Buffer.from('good').toString('base64')}\r\n`);
    // The security-layer offer (unwrapped here): no layer, no buffer.
    expect(await client.next()).toBe(`+ ${Buffer.from([1, 0, 0, 0]).toString('base64')}`);
    client.send(`${Buffer.from([1, 0, 0, 0]).toString('base64')}\r\n`);
    expect(await client.next()).toBe('a1 OK Logged in');
    expect(queries).toMatchObject([{ by: 'principal', login: 'alice@EXAMPLE.COM' }]);
    expect(queries[0]).not.toHaveProperty('authzid');
    expect(mailbox.logins).toEqual(['alice@example.com|zmnginx|master-secret']);
    client.close();
  });

  it('the authorization identity the client sends goes to the route lookup, which decides', async () => {
    const mailbox = await masterMailbox();
    const queries: RouteQuery[] = [];
    const client = await proxy('imap', ON, { gssapi, routes: recordingRoutes(mailbox.port, queries) });
    client.send(`a1 AUTHENTICATE GSSAPI ${Buffer.from('good').toString('base64')}\r\n`);
    await client.next();
    client.send(`${Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from('al@example.com')]).toString('base64')}\r\n`);
    expect(await client.next()).toBe('a1 OK Logged in');
    expect(queries).toMatchObject([{ by: 'principal', login: 'alice@EXAMPLE.COM', authzid: 'al@example.com' }]);
    client.close();
  });

  it('a refused ticket: NO, and no lookup', async () => {
    const queries: RouteQuery[] = [];
    const client = await proxy('imap', ON, { gssapi, routes: recordingRoutes(1, queries) });
    client.send(`a1 AUTHENTICATE GSSAPI ${Buffer.from('replayed').toString('base64')}\r\n`);
    expect(await client.next()).toBe('a1 NO [AUTHENTICATIONFAILED] Authentication failed');
    expect(queries).toEqual([]);
    client.close();
  });

  it('no master secret configured: a temporary NO at once, no exchange', async () => {
    const client = await proxy('pop3', ON, { gssapi: { ...gssapi, masterPassword: undefined } });
    client.send('AUTH GSSAPI\r\n');
    expect(await client.next()).toMatch(/^-ERR \[SYS\/TEMP\]/);
    client.close();
  });

  it('a client that aborts gets the abort reply', async () => {
    const client = await proxy('imap', ON, { gssapi });
    client.send('a1 AUTHENTICATE GSSAPI\r\n');
    expect(await client.next()).toBe('+ ');
    client.send('*\r\n');
    expect(await client.next()).toBe('a1 BAD AUTHENTICATE aborted');
    client.close();
  });
});
