/**
 * The web proxy in Zimbra's default configuration (TLS to the mailbox servers on and verified, a
 * worker per core), tried with the clients people run and the mistakes they make:
 *
 * - each mailbox server is verified against its own name and gets that name as SNI, never the
 *   client's Host; a certificate for another name gives 502 and one short log line;
 * - curl's uploads (`Expect: 100-continue`, fixed length and chunked) go through, and leave the
 *   server in the pool;
 * - upgrades pass the same gate as requests (strict server names; the mail mode's redirect);
 *   tunnels end when idle, after a half-close, and at the drain bound on SIGTERM;
 * - one access line per request and per tunnel, without secrets;
 * - the logs and metrics an operator reads: one "listening" line, handshakes without SNI counted,
 *   refusals labelled as what they are, a server back at info, client timeouts as set.
 *
 * Real slapd, route-lookup, NATS and memcached; HTTPS stand-ins for the mailbox servers
 * (test/harness/web-stack.ts); curl as the client where a person would use it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessLines,
  authTokenFor,
  freePort,
  logLines,
  removeDir,
  scratchDir,
  startWebStack,
  startWebStandIn,
  stopAll,
  waitFor,
  type SeenRequest,
  type WebProxyRun,
  type WebStack,
} from '../harness';

const run = promisify(execFile);
const ALICE_ID = 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01';
const TUNNEL_IDLE_S = 3;
const HALF_CLOSE_S = 0.5;
const HEADER_TIMEOUT_S = 2;
const KEEP_ALIVE_S = 3;

let stack: WebStack;
let web: WebProxyRun;
let dir: string;
/** The port of a pool member that is down at start and comes up during the tests. */
let latePort: number;

beforeAll(async () => {
  dir = await scratchDir('web-defaults');
  stack = await startWebStack();
  latePort = await freePort();
  web = await stack.startProxy(
    {
      zimbraReverseProxyStrictServerNameEnabled: true,
      posternWebTrustedProxies: ['127.0.0.9'],
      posternWebTunnelIdleTimeout: `${TUNNEL_IDLE_S}s`,
      posternWebTunnelHalfCloseTimeout: `${HALF_CLOSE_S * 1000}ms`,
      posternWebClientHeaderTimeout: `${HEADER_TIMEOUT_S}s`,
      posternWebClientKeepAliveTimeout: `${KEEP_ALIVE_S}s`,
      posternWebHealthCheckInterval: '500ms',
    },
    // Zimbra's default: a worker per core.
    { POSTERN_WORKERS: 'auto' },
  );
}, 120_000);

afterAll(async () => {
  await stopAll();
  await stack?.stop();
  if (dir) await removeDir(dir);
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One plain-HTTP request through the proxy with Host mail.example.com (unless given). */
function send(path: string, options: { headers?: Record<string, string>; localAddress?: string; port?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: options.port ?? web.httpPort,
        path,
        headers: { Host: 'mail.example.com', ...options.headers },
        localAddress: options.localAddress,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

const seen = (answer: Answer) => JSON.parse(answer.body.toString('utf8')) as SeenRequest;

/** Opens a raw connection and sends `head`; resolves with the socket and everything it has read so far (live). */
async function rawConnection(head: string, port = web.httpPort): Promise<{ socket: Socket; text: () => string; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  socket.write(head);
  return { socket, text: () => text, closed };
}

function upgradeHead(path: string, host = 'mail.example.com', extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Cookie: ZM_AUTH_TOKEN=${authTokenFor(ALICE_ID)}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
  );
}

describe('TLS to the mailbox servers, verified by their own names', () => {
  it("a user's server is verified against its address, whatever the client's Host", async () => {
    const answer = await send('/home/alice@example.com/Inbox');
    expect(answer.status).toBe(200);
    // An address gets no SNI (RFC 6066 §3); the certificate was checked against 127.0.0.2.
    expect({ server: seen(answer).server, servername: seen(answer).servername }).toEqual({ server: 'mbox1', servername: false });
  });

  it('a server reached by name gets that name as SNI, not the Host', async () => {
    const answer = await send('/css/app.css', { headers: { Host: 'webmail.example.com' } });
    expect(answer.status).toBe(200);
    expect({ server: seen(answer).server, servername: seen(answer).servername, host: seen(answer).headers.host }).toEqual({
      server: 'pool',
      servername: 'localhost',
      host: 'webmail.example.com',
    });
  });

  it('a certificate for another name: 502, and one short line that names the server and the reason', async () => {
    const before = web.proxy.process.output().length;
    const answer = await send('/home/bob@example.com/Inbox');
    expect(answer.status).toBe(502);
    await waitFor('the failure logged', () => web.proxy.process.output().slice(before).includes('web: upstream failed'));
    const lines = web.proxy.process
      .output()
      .slice(before)
      .split('\n')
      .filter((line) => line.includes('web: upstream failed'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ upstream: `127.0.0.3:${stack.mbox2.port}`, status: 502, code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(String(line.reason)).toMatch(/^certificate refused: .*127\.0\.0\.3/);
    expect(lines[0]!.length).toBeLessThan(600);
    expect(lines[0]).not.toMatch(/BEGIN CERTIFICATE|"stack"|"cert"/);
    // bob's server is not a pool member: no health verdict on it, no gauge stuck at 0.
    expect(web.proxy.process.output()).not.toMatch(/pool server out.*127\.0\.0\.3|127\.0\.0\.3.*pool server out/);
    const metrics = await (await fetch(`http://127.0.0.1:${web.proxy.httpPort}/metrics`)).text();
    expect(metrics).not.toContain(`postern_web_upstream_up{upstream="127.0.0.3`);
  });

  it('the pool server is checked over TLS and stays in', async () => {
    await waitFor('the pool server checked', async () => (await web.proxy.metric('postern_web_upstream_up', { upstream: stack.poolMember })) === 1);
  });
});

describe('uploads with Expect: 100-continue', () => {
  let file: string;
  beforeAll(() => {
    file = join(dir, 'upload.bin');
    writeFileSync(file, Buffer.alloc(5 * 1024 * 1024, 3));
  });

  /** curl as a person runs it: its own Expect for a body over 1 MB, `-v` to see the 100. */
  async function curl(args: string[]): Promise<{ status: string; stderr: string; body: SeenRequest }> {
    const { stdout, stderr } = await run('curl', ['-sS', '-v', '-o', '-', '-w', '\n%{http_code}', '-H', 'Host: mail.example.com', ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const cut = stdout.lastIndexOf('\n');
    return { status: stdout.slice(cut + 1), stderr, body: JSON.parse(stdout.slice(0, cut)) as SeenRequest };
  }

  it("curl -T of 5 MB to a user's server: 100 Continue, then 200 with every byte, no Expect upstream", async () => {
    const answer = await curl(['-T', file, `http://127.0.0.1:${web.httpPort}/home/alice@example.com/Briefcase/upload.bin`]);
    expect(answer.stderr).toContain('> Expect: 100-continue');
    expect(answer.stderr).toContain('< HTTP/1.1 100 Continue');
    expect({ status: answer.status, server: answer.body.server, bytes: answer.body.bodyBytes, expect: answer.body.headers.expect }).toEqual({
      status: '200',
      server: 'mbox1',
      bytes: 5 * 1024 * 1024,
      expect: undefined,
    });
  });

  it('a chunked upload with Expect to the pool: 200, and the pool server still serves', async () => {
    const { stdout } = await run(
      'sh',
      ['-c', `curl -sS -o - -w '\\n%{http_code}' -H 'Host: mail.example.com' -H 'Expect: 100-continue' -T - http://127.0.0.1:${web.httpPort}/upload < ${file}`],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const cut = stdout.lastIndexOf('\n');
    const body = JSON.parse(stdout.slice(0, cut)) as SeenRequest;
    expect({ status: stdout.slice(cut + 1), server: body.server, bytes: body.bodyBytes, chunked: body.headers['transfer-encoding'] }).toEqual({
      status: '200',
      server: 'pool',
      bytes: 5 * 1024 * 1024,
      chunked: 'chunked',
    });
    expect(await web.proxy.metric('postern_web_upstream_up', { upstream: stack.poolMember })).toBe(1);
    expect((await send('/css/app.css')).status).toBe(200);
  });
});

describe('upgrades pass the same gate as requests', () => {
  it('strict server names: an unknown Host gets 400 with Upgrade as without', async () => {
    const plain = await send('/service/extension/ws', { headers: { Host: 'unknown.example.net' } });
    const upgrade = await rawConnection(upgradeHead('/service/extension/ws', 'unknown.example.net'));
    await upgrade.closed;
    expect([plain.status, upgrade.text().split('\r\n')[0]]).toEqual([400, 'HTTP/1.1 400 Bad Request']);
    expect(await web.proxy.metric('postern_web_requests_total', { route: 'unknown-host', status: '4xx', protocol: 'ws' })).toBeGreaterThanOrEqual(1);
    expect(await web.proxy.metric('postern_web_requests_total', { route: 'pool', status: '4xx' })).toBe(0);
  });

  it('redirect mode: a plain-HTTP upgrade gets the same 302 as the page', async () => {
    const redirecting = await stack.startProxy({ zimbraReverseProxyMailMode: 'redirect' });
    const page = await send('/service/extension/ws', { port: redirecting.httpPort });
    const upgrade = await rawConnection(upgradeHead('/service/extension/ws'), redirecting.httpPort);
    await upgrade.closed;
    const location = `https://mail.example.com:${redirecting.httpsPort}/service/extension/ws`;
    expect([page.status, page.headers.location]).toEqual([302, location]);
    expect(upgrade.text()).toMatch(new RegExp(`^HTTP/1\\.1 302 Found\\r\\n[^]*\\r\\nLocation: ${location.replace(/\./g, '\\.')}\\r\\n`));
    await redirecting.proxy.stop();
  });

  it('a tunnel with no byte either way is closed at the idle limit, and logged', async () => {
    const tunnel = await rawConnection(upgradeHead('/ws-stubborn'));
    await waitFor('the 101', () => tunnel.text().includes('\r\n\r\n'));
    const opened = performance.now();
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 101 /);
    await waitFor('one tunnel open', async () => (await web.proxy.metric('postern_web_upgraded_connections')) === 1);
    const closedAt = await tunnel.closed;
    expect((closedAt - opened) / 1000).toBeGreaterThanOrEqual(TUNNEL_IDLE_S - 0.2);
    expect((closedAt - opened) / 1000).toBeLessThan(TUNNEL_IDLE_S + 3);
    await waitFor('the gauge back to 0', async () => (await web.proxy.metric('postern_web_upgraded_connections')) === 0);
    await waitFor('its access line', () => accessLines(web.proxy.process.output()).some((l) => l.protocol === 'ws' && l.path === '/ws-stubborn'));
    const line = accessLines(web.proxy.process.output()).find((l) => l.protocol === 'ws' && l.path === '/ws-stubborn')!;
    expect(line).toMatchObject({ status: 101, upstream: `127.0.0.2:${stack.mbox1.port}`, route: 'token', vhost: 'mail.example.com' });
    expect(line.ms).toBeGreaterThanOrEqual((TUNNEL_IDLE_S - 0.2) * 1000);
  });

  it('a client that half-closes while the server does not: both closed after the half-close limit', async () => {
    const tunnel = await rawConnection(upgradeHead('/ws-stubborn'));
    await waitFor('the 101', () => tunnel.text().includes('\r\n\r\n'));
    tunnel.socket.end();
    const halfClosed = performance.now();
    const closedAt = await tunnel.closed;
    expect((closedAt - halfClosed) / 1000).toBeLessThan(TUNNEL_IDLE_S - 0.5);
    await waitFor('the gauge back to 0', async () => (await web.proxy.metric('postern_web_upgraded_connections')) === 0);
  });

  it('SIGTERM with a tunnel open: the tunnel is ended at the drain bound and the process exits', async () => {
    const accessLog = join(dir, 'access.log');
    const stopping = await stack.startProxy({ posternWebAccessLog: accessLog, posternWebTunnelIdleTimeout: '1h' });
    const tunnel = await rawConnection(upgradeHead('/ws-echo'), stopping.httpPort);
    await waitFor('the 101', () => tunnel.text().includes('\r\n\r\n'));
    const signalled = performance.now();
    const exited = new Promise<number>((resolve) => stopping.proxy.process.child.once('exit', () => resolve(performance.now())));
    stopping.proxy.process.child.kill('SIGTERM');
    const [closedAt, exitedAt] = await Promise.all([tunnel.closed, exited]);
    // The drain bound is 10 s; a few more for NATS and memcached to close.
    expect((closedAt - signalled) / 1000).toBeLessThan(12);
    expect((exitedAt - signalled) / 1000).toBeLessThan(15);
    expect(stopping.proxy.process.child.signalCode).toBeNull();
    // The access log went to its file, the tunnel's line with it.
    const lines = accessLines(readFileSync(accessLog, 'utf8'));
    expect(lines.map((l) => [l.protocol, l.path, l.status])).toContainEqual(['ws', '/ws-echo', 101]);
    expect(accessLines(stopping.proxy.process.output())).toEqual([]);
  }, 30_000);
});

describe('the access log', () => {
  it('one line per request, the client as believed, no secrets', async () => {
    const token = authTokenFor(ALICE_ID);
    const basic = Buffer.from('alice@example.com:alice-secret').toString('base64');
    await send(`/service/soap/BatchRequest?zauthtoken=${token}&fmt=json`, { headers: { 'X-Forwarded-For': '203.0.113.7' }, localAddress: '127.0.0.9' });
    await send('/Microsoft-Server-ActiveSync?Cmd=Sync', { headers: { Authorization: `Basic ${basic}` } });
    await waitFor('both lines', () => accessLines(web.proxy.process.output()).filter((l) => /BatchRequest|ActiveSync/.test(l.path)).length === 2);
    const [soap, activesync] = accessLines(web.proxy.process.output()).filter((l) => /BatchRequest|ActiveSync/.test(l.path));
    expect(soap).toMatchObject({
      client: '203.0.113.7',
      vhost: 'mail.example.com',
      method: 'GET',
      path: '/service/soap/BatchRequest?zauthtoken=[redacted]&fmt=json',
      status: 200,
      upstream: `127.0.0.2:${stack.mbox1.port}`,
      route: 'token',
      protocol: 'h1',
      bytesIn: 0,
    });
    expect(soap!.bytesOut).toBeGreaterThan(100);
    expect(activesync).toMatchObject({ client: '127.0.0.1', route: 'activesync', status: 200 });
    const output = web.proxy.process.output();
    expect(output).not.toContain(token.split('_')[2]!);
    expect(output).not.toContain(basic);
    expect(output).not.toContain('alice-secret');
  });
});

describe('what an operator reads', () => {
  it('each listener says it listens once per worker, and nothing else says it again', () => {
    const lines = logLines(web.proxy.process.output());
    const workers = new Set(lines.filter((l) => l.msg === 'web: listening').map((l) => l.pid)).size;
    expect(workers).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.msg === 'web: listening' && l.listener === 'https')).toHaveLength(workers);
    expect(lines.filter((l) => l.msg === 'listening')).toEqual([]);
  });

  it('a TLS client without SNI is counted with the default certificate', async () => {
    const before = await web.proxy.metric('postern_web_tls_handshakes_total', { certificate: 'default' });
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: web.httpsPort, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        socket.end();
        resolve();
      });
      socket.on('error', reject);
    });
    await waitFor('the handshake counted', async () => (await web.proxy.metric('postern_web_tls_handshakes_total', { certificate: 'default' })) === before + 1);
  });

  it('a pool server that comes up is back at info; while down, one short warn line says why', async () => {
    const lateMember = `localhost:${latePort}`;
    const config = JSON.parse(readFileSync(web.configFile, 'utf8')) as { attributes: Record<string, unknown> };
    config.attributes.posternWebUpstreamPool = [stack.poolMember, lateMember];
    writeFileSync(web.configFile, JSON.stringify(config));
    web.proxy.process.child.kill('SIGHUP');
    await waitFor(
      'the late member out',
      async () => (await web.proxy.metric('postern_web_upstream_up', { upstream: lateMember })) === 0 && (await metricHas(lateMember)),
      {
        timeoutMs: 20_000,
      },
    );
    const late = await startWebStandIn('late', '127.0.0.1', { tls: stack.upstreamCert, port: latePort });
    try {
      await waitFor('back', async () => (await web.proxy.metric('postern_web_upstream_up', { upstream: lateMember })) >= 1, { timeoutMs: 20_000 });
    } finally {
      await late.stop();
    }
    const lines = logLines(web.proxy.process.output());
    const out = lines.find((l) => l.msg === 'web: pool server out' && l.upstream === lateMember)!;
    expect(out).toMatchObject({ level: 40 });
    expect(String(out.why)).toMatch(/^ECONNREFUSED/);
    expect(JSON.stringify(out).length).toBeLessThan(600);
    expect(lines.find((l) => l.msg === 'web: pool server back' && l.upstream === lateMember)).toMatchObject({ level: 30 });
  }, 60_000);

  it(`a client that does not finish its head is answered 408 and closed after ${HEADER_TIMEOUT_S} s`, async () => {
    const slow = await rawConnection('GET / HTTP/1.1\r\nHost: mail.example.com\r\n');
    const opened = performance.now();
    const closedAt = await slow.closed;
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect((closedAt - opened) / 1000).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S - 0.1);
    expect((closedAt - opened) / 1000).toBeLessThan(HEADER_TIMEOUT_S + 1.5);
  });

  it(`an idle kept-alive client connection is kept ${KEEP_ALIVE_S} s, as set`, async () => {
    const client = await rawConnection('GET /css/app.css HTTP/1.1\r\nHost: mail.example.com\r\n\r\n');
    await waitFor('the answer', () => /\r\n\r\n[^]*\n$/.test(client.text()));
    const answered = performance.now();
    expect(client.text()).toMatch(new RegExp(`\\r\\nKeep-Alive: timeout=${KEEP_ALIVE_S}\\r\\n`));
    const closedAt = await client.closed;
    expect((closedAt - answered) / 1000).toBeGreaterThanOrEqual(KEEP_ALIVE_S - 0.2);
    expect((closedAt - answered) / 1000).toBeLessThan(KEEP_ALIVE_S + 2);
  });
});

/** True once `/metrics` has a series for `upstream` (0 is also what a missing series sums to). */
async function metricHas(upstream: string): Promise<boolean> {
  const text = await (await fetch(`http://127.0.0.1:${web.proxy.httpPort}/metrics`)).text();
  return text.includes(`postern_web_upstream_up{upstream="${upstream}"`);
}
