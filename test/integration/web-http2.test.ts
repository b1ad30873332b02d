/**
 * HTTP/2 on the web proxy's HTTPS listener, with the clients that speak it: curl --http2, nghttp2's
 * nghttp and h2load, a rapid-reset attacker (CVE-2023-44487) written with node:http2, and a real
 * browser (Debian's chromium, driven headless by playwright-core) loading a page over h2 with SNI
 * and a WebSocket over HTTP/1.1 beside it. The mailbox servers are reached over HTTP/1.1 and TLS,
 * in Zimbra's default configuration (test/harness/web-stack.ts).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as http2Connect, type SecureClientSessionOptions } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  accessLines,
  authTokenFor,
  binary,
  removeDir,
  scratchDir,
  startWebStack,
  stopAll,
  waitFor,
  type SeenRequest,
  type WebProxyRun,
  type WebStack,
} from '../harness';

const run = promisify(execFile);
const ALICE_ID = 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01';

let stack: WebStack;
let web: WebProxyRun;
let dir: string;
/** curl's way to reach mail.example.com at the proxy with SNI: --resolve. */
let resolve: string[];

beforeAll(async () => {
  dir = await scratchDir('web-http2');
  stack = await startWebStack();
  web = await stack.startProxy({}, { POSTERN_WORKERS: 'auto' });
  resolve = ['--resolve', `mail.example.com:${web.httpsPort}:127.0.0.1`];
}, 120_000);

afterAll(async () => {
  await stopAll();
  await stack?.stop();
  if (dir) await removeDir(dir);
});

const url = (path: string) => `https://mail.example.com:${web.httpsPort}${path}`;

describe('curl --http2', () => {
  it('a request is routed as over HTTP/1.1, reaching the mailbox server as HTTP/1.1 with Host and the forwarded headers', async () => {
    const { stdout } = await run('curl', ['-sS', '-k', '--http2', ...resolve, '-w', '\n%{http_version} %{http_code}', url('/home/alice@example.com/Inbox')]);
    const [body, last] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
    const seen = JSON.parse(body) as SeenRequest;
    expect(last).toBe('2 200');
    expect({ server: seen.server, host: seen.headers.host, proto: seen.headers['x-forwarded-proto'], port: seen.headers['x-forwarded-port'] }).toEqual({
      server: 'mbox1',
      host: `mail.example.com:${web.httpsPort}`,
      proto: 'https',
      port: String(web.httpsPort),
    });
  });

  it('streams a 5 MB upload and a 20 MB download both ways', async () => {
    const file = join(dir, 'upload.bin');
    writeFileSync(file, Buffer.alloc(5 * 1024 * 1024, 1));
    const upload = await run('curl', ['-sS', '-k', '--http2', ...resolve, '-T', file, url('/home/alice@example.com/Briefcase/up.bin')]);
    expect((JSON.parse(upload.stdout) as SeenRequest).bodyBytes).toBe(5 * 1024 * 1024);
    const download = await run('curl', [
      '-sS',
      '-k',
      '--http2',
      ...resolve,
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{size_download}',
      url('/big?n=20000000'),
    ]);
    expect(download.stdout).toBe('2 20000000');
  });
});

describe("nghttp2's clients", () => {
  it('nghttp: the limits in SETTINGS, and split cookies joined for the mailbox server', async () => {
    const frames = await run(binary('nghttp'), ['-nv', `https://127.0.0.1:${web.httpsPort}/css/app.css`]);
    expect(frames.stdout).toContain('[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128]');
    expect(frames.stdout).toMatch(/:status: 200/);
    const token = authTokenFor(ALICE_ID);
    const { stdout } = await run(binary('nghttp'), [
      '-H',
      'cookie: lang=en',
      '-H',
      `cookie: ZM_AUTH_TOKEN=${token}`,
      `https://127.0.0.1:${web.httpsPort}/service/soap`,
    ]);
    const seen = JSON.parse(stdout) as SeenRequest;
    expect({ server: seen.server, cookie: seen.headers.cookie }).toEqual({ server: 'mbox1', cookie: `lang=en; ZM_AUTH_TOKEN=${token}` });
  });

  it('h2load: 400 requests on 4 connections, 16 streams each at a time, all answered', async () => {
    const before = await web.proxy.metric('postern_web_requests_total', { protocol: 'h2', status: '2xx' });
    const { stdout } = await run(binary('h2load'), ['-n', '400', '-c', '4', '-m', '16', `https://127.0.0.1:${web.httpsPort}/css/app.css`]);
    expect(stdout).toMatch(/requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored/);
    expect(stdout).toMatch(/status codes: 400 2xx/);
    await waitFor(
      'every request counted',
      async () => (await web.proxy.metric('postern_web_requests_total', { protocol: 'h2', status: '2xx' })) >= before + 400,
    );
  });
});

describe('a client that leaves', () => {
  it('its connection closed mid-download: the request to the mailbox server is aborted and counted as aborted, and the pool still serves', async () => {
    const aborted = () => web.proxy.metric('postern_web_requests_total', { status: 'aborted', protocol: 'h2' });
    const before = await aborted();
    await new Promise<void>((resolve, reject) => {
      const session = http2Connect(url('/'), { servername: 'mail.example.com', rejectUnauthorized: false, host: '127.0.0.1' } as SecureClientSessionOptions);
      session.on('error', () => undefined);
      const stream = session.request({ ':path': `/home/alice@example.com/big?n=${1024 * 1024 * 1024}` });
      stream.on('error', () => undefined);
      // Gone as h2load leaves at the end of its run: the whole connection, with the answer under way.
      stream.once('data', () => {
        session.destroy();
        resolve();
      });
      stream.once('close', () => reject(new Error('the stream closed before any data')));
    });
    // Carried on instead, the answer would hold its connection to the mailbox server for good.
    await waitFor('the request counted as aborted', async () => (await aborted()) === before + 1, { timeoutMs: 10_000 });
  });

  it('a connection closed while the mailbox server is yet to answer: the request to it is aborted and counted as aborted', async () => {
    const aborted = () => web.proxy.metric('postern_web_requests_total', { status: 'aborted', protocol: 'h2' });
    const before = await aborted();
    const arrived = new Promise<void>((resolve) => stack.mbox1.server.once('request', () => resolve()));
    const session = http2Connect(url('/'), { servername: 'mail.example.com', rejectUnauthorized: false, host: '127.0.0.1' } as SecureClientSessionOptions);
    session.on('error', () => undefined);
    const stream = session.request({ ':method': 'PUT', ':path': '/home/alice@example.com/Briefcase/unfinished.bin' });
    stream.on('error', () => undefined);
    // A body begun and never ended: the mailbox server answers only at its end.
    stream.write(Buffer.alloc(1024, 1));
    await arrived;
    session.destroy();
    // Its stream closed by the client reads as finished; taken for an answer sent, the request would be carried on.
    await waitFor('the request counted as aborted', async () => (await aborted()) === before + 1, { timeoutMs: 10_000 });
  });

  it('a connection closed while its routes are looked up: each request is counted as aborted and holds no connection to a mailbox server', async () => {
    // More than the 64 kept-alive connections per mailbox server: were each held, nothing more would be served.
    const STREAMS = 80;
    const aborted = () => web.proxy.metric('postern_web_requests_total', { status: 'aborted', protocol: 'h2' });
    const before = await aborted();
    await new Promise<void>((resolve, reject) => {
      const session = http2Connect(url('/'), { servername: 'mail.example.com', rejectUnauthorized: false, host: '127.0.0.1' } as SecureClientSessionOptions);
      session.on('error', () => undefined);
      session.once('remoteSettings', () => {
        // Users no route is memoised for: each request waits on a lookup when the connection goes, as h2load leaves at the end of a run.
        for (let i = 0; i < STREAMS; i++) session.request({ ':path': `/home/gone-${i}-${Date.now()}@example.com/` }).on('error', () => undefined);
        setImmediate(() => {
          session.destroy();
          resolve();
        });
      });
      session.once('close', () => reject(new Error('the connection closed before its settings')));
    });
    await waitFor('every request counted as aborted', async () => (await aborted()) === before + STREAMS, { timeoutMs: 10_000 });
    const { stdout } = await run('curl', [
      '-sS',
      '-k',
      '--http2',
      ...resolve,
      '-m',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      url('/css/app.css'),
    ]);
    expect(stdout).toBe('2 200');
  });
});

const GOAWAY = 0x7;

interface Frame {
  readonly type: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/**
 * The attack as its tools sent it: over one TLS connection (ALPN h2), `streams` pairs of HEADERS
 * (GET /, END_STREAM) and RST_STREAM (CANCEL), written at once; resolves with the frames the
 * server sent until its GOAWAY (or its close, or 10 s).
 */
function rapidReset(port: number, streams: number): Promise<Frame[]> {
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  const authority = Buffer.from('mail.example.com');
  // HPACK: :method GET, :scheme https, :path / (static table 2, 7, 4); :authority as a literal of static name 1.
  const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, authority.length]), authority]);
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(0x8);
  const parts = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0, Buffer.alloc(0))];
  for (let i = 0; i < streams; i++) {
    const id = 2 * i + 1;
    parts.push(frame(0x1, 0x5, id, block), frame(0x3, 0, id, cancel));
  }
  return new Promise((done, failed) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'mail.example.com', ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      if (socket.alpnProtocol !== 'h2') return failed(new Error(`ALPN gave ${String(socket.alpnProtocol)}`));
      socket.write(Buffer.concat(parts));
    });
    let received = Buffer.alloc(0);
    const frames: Frame[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      done(frames);
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 9 && received.length >= 9 + received.readUIntBE(0, 3)) {
        const length = received.readUIntBE(0, 3);
        frames.push({ type: received[3]!, stream: received.readUInt32BE(5) & 0x7fffffff, payload: received.subarray(9, 9 + length) });
        received = received.subarray(9 + length);
      }
      if (frames.some((f) => f.type === GOAWAY)) finish();
    });
    socket.on('error', () => socket.destroy());
    const timer = setTimeout(finish, 10_000);
    socket.once('close', finish);
  });
}

describe('a browser', () => {
  it('chromium loads a page over h2 with the virtual host certificate, and a WebSocket through the proxy echoes', async () => {
    const virtualHostBefore = await web.proxy.metric('postern_web_tls_handshakes_total', { certificate: 'virtual-host' });
    const browser = await chromium.launch({
      executablePath: binary('chromium'),
      // The name resolves to the proxy; the test CA is not in the browser's store, so the check is ours (the handshake metric).
      args: [`--host-resolver-rules=MAP mail.example.com 127.0.0.1`, '--ignore-certificate-errors'],
    });
    try {
      const page = await browser.newPage();
      const response = await page.goto(url('/home/alice@example.com/page.html'));
      expect(response?.status()).toBe(200);
      expect(await page.textContent('#served')).toBe('mbox1');
      const protocol = await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol');
      expect(protocol).toBe('h2');
      const echoed = await page.evaluate(
        (wsUrl) =>
          new Promise<string>((done, failed) => {
            const ws = new globalThis.WebSocket(wsUrl);
            ws.onopen = () => ws.send('hello through the proxy');
            ws.onmessage = (event) => {
              done(String(event.data));
              ws.close();
            };
            ws.onerror = () => failed(new Error('WebSocket failed'));
          }),
        `wss://mail.example.com:${web.httpsPort}/ws-echo`,
      );
      expect(echoed).toBe('hello through the proxy');
    } finally {
      await browser.close();
    }
    expect(await web.proxy.metric('postern_web_tls_handshakes_total', { certificate: 'virtual-host' })).toBeGreaterThan(virtualHostBefore);
    await waitFor('the access lines', () => {
      const lines = accessLines(web.proxy.process.output());
      return (
        lines.some((l) => l.protocol === 'h2' && l.path === '/home/alice@example.com/page.html') &&
        lines.some((l) => l.protocol === 'ws' && l.path === '/ws-echo')
      );
    });
  }, 60_000);

  it('a WebSocket client on the HTTPS port (ALPN http/1.1) still upgrades', async () => {
    const ws = new WebSocket(url('/ws-echo').replace('https:', 'wss:'), {
      rejectUnauthorized: false,
      headers: { Cookie: `ZM_AUTH_TOKEN=${authTokenFor(ALICE_ID)}` },
      lookup: (_host, _options, done) => done(null, [{ address: '127.0.0.1', family: 4 }]),
    });
    const echoed = await new Promise<string>((done, failed) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (data: Buffer) => done(data.toString()));
      ws.once('error', failed);
    });
    ws.close();
    expect(echoed).toBe('ping');
  });
});

// Last: the streams such an attack opened are still being settled (and logged) for a while after
// it, which a test that reads the log's tail must not have to wait for.
describe('rapid reset (CVE-2023-44487)', () => {
  it('a client that opens and cancels streams without end is sent GOAWAY long before its last; everyone else is still served', async () => {
    const ATTACK_STREAMS = 5_000;
    const before = await web.proxy.metric('postern_web_requests_total', { protocol: 'h2' });
    const frames = await rapidReset(web.httpsPort, ATTACK_STREAMS);
    const goaway = frames.find((frame) => frame.type === GOAWAY);
    expect(goaway).toBeDefined();
    // The last stream it processed, from the GOAWAY's payload: about a burst of 1,000 resets, not the attack's 5,000.
    expect(goaway!.payload.readUInt32BE(0) & 0x7fffffff).toBeLessThanOrEqual(2 * 1_100);
    const served = (await web.proxy.metric('postern_web_requests_total', { protocol: 'h2' })) - before;
    expect(served).toBeLessThanOrEqual(1_100);
    const { stdout } = await run('curl', ['-sS', '-k', '--http2', ...resolve, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', url('/css/app.css')]);
    expect(stdout).toBe('2 200');
  });
});
