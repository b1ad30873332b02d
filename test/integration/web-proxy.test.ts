/**
 * The web proxy as browsers and mobile clients meet it: each routing rule sends the request to the
 * account's mailbox server, the rest go to the pool by client-address hash; forwarded headers are
 * set, believed only from a trusted peer; hop-by-hop headers are dropped; smuggling shapes and
 * oversized heads are refused before any lookup; bodies stream both ways; a mailbox server that is
 * down gives 502. Over HTTPS the certificate is the virtual host's own (SNI, from the directory),
 * the default for other names, re-read on SIGHUP (a broken one refused); the mail mode decides
 * the listeners and redirects. Real HTTP servers stand in for the mailbox servers' web ports (on
 * 127.0.0.2 and 127.0.0.3, as the directory says), with real slapd, route-lookup, memcached and
 * NATS; TLS is checked with Node's client and `openssl s_client`.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authTokenFor,
  binary,
  directoryEnv,
  directoryWithWebPorts,
  EXAMPLE_DOMAIN_DN,
  freePort,
  ldapModify,
  makeCertificate,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startProcess,
  startService,
  startSlapd,
  startWebStandIn,
  stopAll,
  waitFor,
  type ServiceProcess,
  type SlapdServer,
  type SeenRequest,
  type TestCertificate,
  type WebStandIn,
} from '../harness';

const ALICE_ID = 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01';
const POOL_HOST = '127.0.0.4';

let dir: string;
let proxy: ServiceProcess;
let proxyPort: number;
let httpsPort: number;
let deadPoolMember: string;
let slapd: SlapdServer;
let common: Record<string, string>;
let defaultCert: TestCertificate;
let mailCert: TestCertificate;
const standIns: WebStandIn[] = [];

beforeAll(async () => {
  dir = await scratchDir('web-proxy');
  standIns.push(...(await Promise.all([startWebStandIn('mbox1', '127.0.0.2'), startWebStandIn('mbox2', '127.0.0.3'), startWebStandIn('pool', POOL_HOST)])));
  const [mbox1, mbox2, pool] = standIns.map((standIn) => standIn.port);
  [defaultCert, mailCert] = await Promise.all([
    makeCertificate({ commonName: 'default.postern.test' }),
    makeCertificate({ commonName: 'mail.example.com', altNames: ['mail.example.com', 'webmail.example.com'] }),
  ]);
  const [nats, memcached, ldap] = await Promise.all([
    startNats(),
    startMemcached(),
    startSlapd({ fixture: directoryWithWebPorts({ mbox1, mbox2 }, { exampleCertificate: mailCert }) }),
  ]);
  slapd = ldap;
  common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  [proxyPort, httpsPort] = await Promise.all([freePort(), freePort()]);
  deadPoolMember = `${POOL_HOST}:${await freePort(POOL_HOST)}`;
  const file = join(dir, 'web-proxy.json');
  writeFileSync(
    file,
    JSON.stringify({
      attributes: {
        zimbraMailProxyPort: proxyPort,
        zimbraMailSSLProxyPort: httpsPort,
        zimbraReverseProxyMailMode: 'both',
        zimbraReverseProxySSLToUpstreamEnabled: false,
        // The first pool server is never up: the health check takes it out, and the hash skips it.
        posternWebUpstreamPool: [deadPoolMember, `${POOL_HOST}:${pool}`],
        posternWebTrustedProxies: ['127.0.0.9'],
        posternRouteLookupRequestTimeout: '60s',
        zimbraReverseProxyResponseHeaders: ['Strict-Transport-Security: max-age=31536000'],
        zimbraReverseProxyStrictServerNameEnabled: true,
      },
    }),
  );
  [, proxy] = await Promise.all([
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('web-proxy', {
      ...common,
      ...tlsEnv(),
      POSTERN_CONFIG_FILE: file,
      POSTERN_BIND_HOST: '127.0.0.1',
      POSTERN_SERVER_NAME: 'proxy1.postern.test',
    }),
  ]);
  // Its first health check has taken the dead pool server out before any test sends a request.
  await waitFor(
    'the dead pool server out',
    async () => (await proxy.metric('postern_web_upstream_up', { upstream: deadPoolMember })) === 0 && (await metricPresent(deadPoolMember)),
    {
      timeoutMs: 30_000,
    },
  );
}, 120_000);

/** The default certificate, and the directory the virtual hosts' come from. */
function tlsEnv(): Record<string, string> {
  return { POSTERN_TLS_CERT_FILE: defaultCert.certFile, POSTERN_TLS_KEY_FILE: defaultCert.keyFile, ...directoryEnv(slapd) };
}

/** True once the health gauge has a series for `upstream` (0 is also what a missing series sums to). */
async function metricPresent(upstream: string): Promise<boolean> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.httpPort}/metrics`)).text();
  return text.includes(`postern_web_upstream_up{upstream="${upstream}"`);
}

afterAll(async () => {
  await stopAll();
  await Promise.all(standIns.map((standIn) => standIn.stop()));
  if (dir) await removeDir(dir);
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
  /** A loopback address of the test's choosing. */
  readonly localAddress?: string;
  /** HTTPS (SNI mail.example.com) instead of HTTP. */
  readonly tls?: boolean;
  /** Another proxy's port than the main one's. */
  readonly port?: number;
}

/** One request through a proxy (the main one's HTTP port unless told), with Host mail.example.com. */
function send(path: string, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port: options.port ?? (options.tls ? httpsPort : proxyPort),
      path,
      method: options.method ?? 'GET',
      headers: { Host: 'mail.example.com', ...options.headers },
      localAddress: options.localAddress,
      agent: false,
    };
    const request = (options.tls ? httpsRequest : httpRequest)(
      options.tls ? { ...common, servername: 'mail.example.com', rejectUnauthorized: false } : common,
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** A process's resident memory now and its peak so far (MB), from /proc. */
function memoryOf(pid: number): { residentMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { residentMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

const seen = (answer: Answer) => JSON.parse(answer.body.toString('utf8')) as SeenRequest;

/** Sends raw bytes and returns the first line of the answer. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxyPort, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}

describe('web proxy routing', () => {
  it.each([
    ['REST', '/home/alice@example.com/Inbox?fmt=rss', {}, 'mbox1'],
    ['REST by alias', '/service/home/~al@example.com/Calendar', {}, 'mbox1'],
    ['CalDAV', '/dav/bob@example.com/Calendar/', {}, 'mbox2'],
    ['ActiveSync', '/Microsoft-Server-ActiveSync?Cmd=Sync', { Authorization: `Basic ${Buffer.from('example.org\\carol:pw').toString('base64')}` }, 'mbox2'],
    ['the auth token cookie', '/service/soap/GetInfoRequest', { Cookie: `ZM_AUTH_TOKEN=${authTokenFor(ALICE_ID)}` }, 'mbox1'],
    ['no user at all: the pool', '/', {}, 'pool'],
    ['an unknown user: the pool', '/home/nobody@example.com/', {}, 'pool'],
  ])('%s → %s', async (_what, path, headers, server) => {
    const answer = await send(path, { headers });
    expect(answer.status).toBe(200);
    expect(seen(answer)).toMatchObject({ server, url: path });
  });

  it('skips a pool server that is out, whatever the client address hashes to', async () => {
    const servers = new Set<string>();
    for (let i = 20; i < 30; i++) servers.add(seen(await send('/', { localAddress: `127.0.0.${i}` })).server);
    expect(servers).toEqual(new Set(['pool']));
    expect(await proxy.metric('postern_web_upstream_up', { upstream: deadPoolMember })).toBe(0);
  });

  it('strict server names: a Host that is neither this server nor a virtual host gets 400', async () => {
    expect((await send('/home/alice@example.com/', { headers: { Host: 'unknown.example.net' } })).status).toBe(400);
    expect((await send('/home/alice@example.com/', { headers: { Host: 'proxy1.postern.test:8080' } })).status).toBe(200);
    expect((await send('/home/alice@example.com/', { headers: { Host: 'WEBMAIL.example.com' } })).status).toBe(200);
    expect(await proxy.metric('postern_web_refused_requests_total', { reason: 'unknown-host' })).toBe(1);
  });

  it('counts requests by route kind and mailbox server', async () => {
    expect(await proxy.metric('postern_web_requests_total', { route: 'rest', status: '2xx' })).toBeGreaterThanOrEqual(2);
    expect(await proxy.metric('postern_web_requests_total', { route: 'pool', status: '2xx' })).toBeGreaterThanOrEqual(2);
  });
});

describe('forwarded headers', () => {
  it('a stranger gets its X-Forwarded-* replaced, not appended to', async () => {
    const answer = await send('/home/alice@example.com/', {
      headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https' },
      localAddress: '127.0.0.8',
    });
    expect(seen(answer).headers).toMatchObject({ 'x-forwarded-for': '127.0.0.8', 'x-forwarded-proto': 'http', 'x-forwarded-port': String(proxyPort) });
  });

  it('a trusted peer is believed, and appended to the chain', async () => {
    const answer = await send('/home/alice@example.com/', {
      headers: { 'X-Forwarded-For': '203.0.113.5', 'X-Forwarded-Proto': 'https' },
      localAddress: '127.0.0.9',
    });
    expect(seen(answer).headers).toMatchObject({ 'x-forwarded-for': '203.0.113.5, 127.0.0.9', 'x-forwarded-proto': 'https' });
  });

  it('hop-by-hop headers are dropped both ways', async () => {
    const answer = await send('/home/alice@example.com/', { headers: { Connection: 'X-Hop', 'X-Hop': 'gone', 'X-Kept': 'kept' } });
    expect(seen(answer).headers['x-hop']).toBeUndefined();
    expect(seen(answer).headers['x-kept']).toBe('kept');
    expect(answer.headers['x-internal']).toBeUndefined();
    expect(answer.headers['x-served-by']).toBe('mbox1');
    // zimbraReverseProxyResponseHeaders, added to every answer.
    expect(answer.headers['strict-transport-security']).toBe('max-age=31536000');
  });
});

describe('upgrades', () => {
  it('carries a WebSocket upgrade to the account server and bytes both ways', async () => {
    const socket = connect(proxyPort, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write(
      'GET /service/extension/ws HTTP/1.1\r\nHost: mail.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Cookie: ZM_AUTH_TOKEN=${authTokenFor(ALICE_ID)}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await waitFor('the 101', () => text.includes('\r\n\r\n'));
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(text).toMatch(/X-Served-By: mbox1\r\n/);
    expect(text).toMatch(/X-Seen-Forwarded-For: 127\.0\.0\.1\r\n/);
    const before = text.length;
    socket.write('ping over the tunnel');
    await waitFor('the echo', () => text.slice(before) === 'ping over the tunnel');
    expect(await proxy.metric('postern_web_upgraded_connections')).toBe(1);
    socket.destroy();
    await waitFor('the tunnel closed', async () => (await proxy.metric('postern_web_upgraded_connections')) === 0);
  });
});

describe('requests refused before any routing', () => {
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'POST /home/alice@example.com/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['two Content-Lengths', 'POST /home/alice@example.com/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['a NUL in the target', 'GET /home/alice\x00@example.com/ HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n'],
  ])('%s: 400', async (_what, bytes) => {
    expect(await raw(bytes)).toBe('HTTP/1.1 400 Bad Request');
  });

  it('oversized headers: 431', async () => {
    expect(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(await proxy.metric('postern_web_refused_requests_total', { reason: 'header-overflow' })).toBeGreaterThanOrEqual(1);
  });
});

describe('bodies and failures', () => {
  it('streams a large upload and a large download through', async () => {
    const upload = Buffer.alloc(8 * 1024 * 1024, 1);
    const up = await send('/home/bob@example.com/Briefcase/file.bin', { method: 'PUT', body: upload, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(seen(up)).toMatchObject({ server: 'mbox2', method: 'PUT', bodyBytes: upload.length });
    const down = await send(`/home/bob@example.com/big?n=${16 * 1024 * 1024}`);
    expect(down.status).toBe(200);
    expect(down.body.length).toBe(16 * 1024 * 1024);
    expect(down.headers['x-served-by']).toBe('mbox2');
  });

  it("a 1 GB upload and a 1 GB download pass through with the proxy's memory bounded", async () => {
    const GB = 1024 * 1024 * 1024;
    // The peak so far is reset (clear_refs 5), so the peak read afterwards is these transfers' own.
    writeFileSync(`/proc/${proxy.process.pid}/clear_refs`, '5');
    const before = memoryOf(proxy.process.pid);
    const chunk = Buffer.alloc(1024 * 1024, 3);
    const uploaded = await new Promise<SeenRequest>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: proxyPort,
          path: '/home/bob@example.com/Briefcase/huge.bin',
          method: 'PUT',
          headers: { Host: 'mail.example.com' },
          agent: false,
        },
        (response) => {
          let body = '';
          response.on('data', (part: Buffer) => (body += part.toString('utf8')));
          response.on('end', () => resolve(JSON.parse(body) as SeenRequest));
        },
      );
      request.on('error', reject);
      // Written as the socket drains: the test itself never holds more than a chunk or two.
      Readable.from(
        (function* () {
          for (let sent = 0; sent < GB; sent += chunk.length) yield chunk;
        })(),
      ).pipe(request);
    });
    expect(uploaded).toMatchObject({ server: 'mbox2', bodyBytes: GB });
    const downloaded = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port: proxyPort, path: `/home/bob@example.com/big?n=${GB}`, headers: { Host: 'mail.example.com' }, agent: false },
        (response) => {
          let bytes = 0;
          response.on('data', (part: Buffer) => (bytes += part.length));
          response.on('end', () => resolve(bytes));
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(downloaded).toBe(GB);
    // The peak resident size over both transfers, against what the process had before them:
    // a body held whole would add a gigabyte; streamed, a few buffers and the garbage between collections.
    const after = memoryOf(proxy.process.pid);
    expect(after.peakMb - before.residentMb).toBeLessThan(256);
  }, 300_000);

  it('a client that leaves mid-download: the request to the mailbox server is aborted and counted as aborted', async () => {
    const aborted = () => proxy.metric('postern_web_requests_total', { status: 'aborted' });
    const before = await aborted();
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port: proxyPort, path: `/home/bob@example.com/big?n=${1024 * 1024 * 1024}`, headers: { Host: 'mail.example.com' }, agent: false },
        (response) => {
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        },
      );
      request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
      request.end();
    });
    // Carried to its end instead, the gigabyte would be counted as a 2xx long after this.
    await waitFor('the request counted as aborted', async () => (await aborted()) === before + 1, { timeoutMs: 10_000 });
  });

  it('a mailbox server that dies mid-answer: the client sees the answer cut, not a short one that looks whole', async () => {
    const outcome = await new Promise<{ status: number; bytes: number; complete: boolean }>((resolve, reject) => {
      const request = httpRequest(
        { host: '127.0.0.1', port: proxyPort, path: '/home/bob@example.com/die', headers: { Host: 'mail.example.com' }, agent: false },
        (response) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => (bytes += chunk.length));
          response.on('error', () => undefined);
          response.on('close', () => resolve({ status: response.statusCode ?? 0, bytes, complete: response.complete }));
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(outcome).toEqual({ status: 200, bytes: 10, complete: false });
  });

  it('a mailbox server that is down: 502 with a page of the proxy', async () => {
    await standIns[0]!.stop();
    const answer = await send('/home/alice@example.com/');
    expect(answer.status).toBe(502);
    expect(answer.body.toString()).toMatch(/cannot be reached/);
  });
});

/** The subject CN of the certificate the HTTPS listener presents for `serverName` (none: no SNI). */
function presented(serverName: string | undefined, port = httpsPort): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(serverName ? { servername: serverName } : {}) }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    socket.on('error', reject);
  });
}

describe('HTTPS and a certificate per virtual host', () => {
  it('SNI picks the domain certificate; other names and no SNI get the default', async () => {
    expect(await presented('mail.example.com')).toBe('mail.example.com');
    expect(await presented('WEBMAIL.example.com')).toBe('mail.example.com');
    expect(await presented('unknown.example.net')).toBe('default.postern.test');
    expect(await presented(undefined)).toBe('default.postern.test');
    expect(await proxy.metric('postern_web_tls_handshakes_total', { certificate: 'virtual-host' })).toBeGreaterThanOrEqual(2);
  });

  it('openssl s_client -servername sees the same', async () => {
    // Its standard input closed at once: it says what it saw and leaves.
    const stdout = await new Promise<string>((resolve) => {
      const child = execFile(
        binary('openssl'),
        ['s_client', '-connect', `127.0.0.1:${httpsPort}`, '-servername', 'mail.example.com'],
        { timeout: 30_000 },
        (_error, out) => resolve(String(out)),
      );
      child.stdin?.end();
    });
    expect(stdout).toMatch(/subject=CN ?= ?mail\.example\.com/);
  });

  it('proxies over HTTPS, telling the mailbox server so', async () => {
    const answer = await send('/home/bob@example.com/', { tls: true });
    expect(seen(answer)).toMatchObject({ server: 'mbox2', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-port': String(httpsPort) } });
  });

  it('serves a changed certificate after SIGHUP without a restart, and refuses a broken one keeping the last good', async () => {
    const renewed = await makeCertificate({ commonName: 'renewed.mail.example.com', altNames: ['mail.example.com'] });
    const replace = (cert: string, key: string) =>
      ldapModify(
        slapd,
        `dn: ${EXAMPLE_DOMAIN_DN}\nchangetype: modify\nreplace: zimbraSSLCertificate\nzimbraSSLCertificate:: ${Buffer.from(cert).toString('base64')}\n-\nreplace: zimbraSSLPrivateKey\nzimbraSSLPrivateKey:: ${Buffer.from(key).toString('base64')}\n-\n`,
      );
    await replace(renewed.certPem, renewed.keyPem);
    // Until told, the proxy keeps what it has.
    expect(await presented('mail.example.com')).toBe('mail.example.com');
    proxy.process.child.kill('SIGHUP');
    await waitFor('the renewed certificate', async () => (await presented('mail.example.com')) === 'renewed.mail.example.com', { timeoutMs: 30_000 });

    await replace('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n', renewed.keyPem);
    const refusalsBefore = proxy.process.output().split('certificate refused').length;
    proxy.process.child.kill('SIGHUP');
    await waitFor(
      'the refusal logged',
      async () => {
        await presented('mail.example.com');
        return proxy.process.output().split('certificate refused').length > refusalsBefore;
      },
      { timeoutMs: 30_000 },
    );
    expect(await presented('mail.example.com')).toBe('renewed.mail.example.com');
    // The directory made good again for the tests after this one.
    await replace(renewed.certPem, renewed.keyPem);
  });
});

describe('mail modes', () => {
  it('redirect: HTTP answers 302 to the same URL over HTTPS, HTTPS proxies (over TLS upstream, failures to the error handler)', async () => {
    const [http, https] = await Promise.all([freePort(), freePort()]);
    const file = join(dir, 'redirect.json');
    const attributes = {
      zimbraMailProxyPort: http,
      zimbraMailSSLProxyPort: https,
      zimbraReverseProxyMailMode: 'redirect',
      zimbraReverseProxySSLToUpstreamEnabled: true,
      zimbraReverseProxyErrorHandlerURL: 'https://errors.example.com/zmerror',
    };
    writeFileSync(file, JSON.stringify({ attributes }));
    const redirecting = await startService('web-proxy', { ...common, ...tlsEnv(), POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' });
    const redirect = await send('/home/alice@example.com/?fmt=rss', { port: http });
    const answer = { status: redirect.status, location: redirect.headers.location };
    expect(answer).toEqual({ status: 302, location: `https://mail.example.com:${https}/home/alice@example.com/?fmt=rss` });
    expect(await presented('mail.example.com', https)).toBe('renewed.mail.example.com');
    // HTTPS is proxied, over TLS to the mailbox server, which has none here: 502, sent to zimbraReverseProxyErrorHandlerURL.
    const failedAnswer = await send('/home/bob@example.com/', { tls: true, port: https });
    const failed = { status: failedAnswer.status, location: failedAnswer.headers.location };
    expect(failed.status).toBe(302);
    expect(failed.location).toMatch(/^https:\/\/errors\.example\.com\/zmerror\?err=502&up=127\.0\.0\.3%3A\d+$/);
    await redirecting.stop();
  });

  it('an unsupported combination is refused at start (exit 78), naming the values', async () => {
    const file = join(dir, 'refused.json');
    const attributes = { zimbraMailProxyPort: await freePort(), zimbraReverseProxyMailMode: 'redirect', zimbraReverseProxySSLToUpstreamEnabled: false };
    writeFileSync(file, JSON.stringify({ attributes }));
    const refused = startProcess('web-proxy-refused', process.execPath, [join(__dirname, '..', '..', 'apps', 'web-proxy', 'dist', 'main.js')], {
      env: { ...process.env, ...common, POSTERN_WORKERS: '1', POSTERN_CONFIG_FILE: file },
    });
    const code = await new Promise<number | null>((resolve) => (refused.exited ? resolve(refused.child.exitCode) : refused.child.once('exit', resolve)));
    expect(code).toBe(78);
    expect(refused.output()).toMatch(
      /zimbraReverseProxyMailMode: invalid value .{0,2}redirect.{0,2}; accepted: with zimbraReverseProxySSLToUpstreamEnabled=FALSE: both, http/,
    );
  });
});
