/**
 * Behind a load balancer: HAProxy (Debian's, mode tcp) in front of the web and mail proxies
 * sends the PROXY protocol, v1 (`send-proxy`) and v2 (`send-proxy-v2`), and Postern takes the
 * client's address from it: the web mailbox server sees it in X-Forwarded-For, and the mail
 * proxy's per-address connection limit counts it, not HAProxy's. Connections from the trusted
 * balancer's address that do not begin with a header, or whose header never completes, are
 * closed and counted; a stranger's PROXY line is only bad input (400). Real memcached, NATS,
 * slapd and route-lookup; an HTTP stand-in for the mailbox server's web port.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  directoryWithWebPorts,
  freePort,
  removeDir,
  scratchDir,
  startHaproxy,
  haproxyPreamble,
  startMailProxy,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  startWebStandIn,
  stopAll,
  waitFor,
  type MailProxyProcess,
  type SeenRequest,
  type ServiceProcess,
  type WebStandIn,
} from '../harness';

/** HAProxy reaches Postern from this address, the only one Postern trusts for PROXY headers. */
const BALANCER = '127.0.0.1';

let dir: string;
let web: ServiceProcess;
let mail: MailProxyProcess;
let webPort: number;
const front = { webV1: 0, webV2: 0, imapV2: 0, imapV1: 0 };
let standIn: WebStandIn;

beforeAll(async () => {
  dir = await scratchDir('proxy-protocol');
  standIn = await startWebStandIn('mbox1', '127.0.0.2');
  const [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: directoryWithWebPorts({ mbox1: standIn.port }) })]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  webPort = await freePort();
  const file = join(dir, 'web-proxy.json');
  writeFileSync(
    file,
    JSON.stringify({
      attributes: {
        zimbraMailProxyPort: webPort,
        zimbraReverseProxyMailMode: 'http',
        zimbraReverseProxySSLToUpstreamEnabled: false,
        posternProxyProtocolTrustedNetworks: [BALANCER],
        posternRouteLookupRequestTimeout: '60s',
      },
    }),
  );
  [, web, mail] = await Promise.all([
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('web-proxy', { ...common, ...directoryEnv(slapd), POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' }),
    startMailProxy(dir, 'mail-proxy', common, {
      posternProxyProtocolTrustedNetworks: [BALANCER],
      // One connection per client address per hour: a second one from the same client is refused.
      zimbraReverseProxyIPLoginLimit: 1,
      zimbraReverseProxyIPLoginLimitTime: 3600,
      posternThrottleChecks: 'local',
    }),
  ]);
  [front.webV1, front.webV2, front.imapV1, front.imapV2] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const listen = (name: string, port: number, target: number, send: string) => [
    `frontend ${name}`,
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${name}`,
    `backend ${name}`,
    `  server postern ${BALANCER}:${target} ${send}`,
  ];
  await startHaproxy(
    dir,
    'haproxy',
    [
      ...haproxyPreamble('tcp'),
      ...listen('web_v1', front.webV1, webPort, 'send-proxy'),
      ...listen('web_v2', front.webV2, webPort, 'send-proxy-v2'),
      ...listen('imap_v1', front.imapV1, mail.imap, 'send-proxy'),
      ...listen('imap_v2', front.imapV2, mail.imap, 'send-proxy-v2'),
      '',
    ].join('\n'),
    Object.values(front),
  );
}, 120_000);

afterAll(async () => {
  await stopAll();
  await standIn?.stop();
  if (dir) await removeDir(dir);
});

/** Sends raw bytes from `localAddress` and returns everything the server sent until it closed. */
function exchange(port: number, bytes: string, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => socket.write(bytes));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

/** The first line an IMAP server sends to a client from `localAddress` (then it logs out). */
function greeting(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) {
        resolve(text.split('\r\n')[0]!);
        socket.end('z LOGOUT\r\n');
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
  });
}

// HTTP/1.0: the answer ends with the connection, not in chunks.
const GET = (path: string) => `GET ${path} HTTP/1.0\r\nHost: mail.example.com\r\n\r\n`;
const seenOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as SeenRequest;

describe('web listeners behind HAProxy', () => {
  it.each([
    ['send-proxy (v1)', 'webV1', '127.0.0.41'],
    ['send-proxy-v2', 'webV2', '127.0.0.42'],
  ] as const)('%s: the mailbox server sees the real client', async (_how, listener, client) => {
    const answer = await exchange(front[listener], GET('/home/alice@example.com/Inbox'), client);
    expect(answer).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(seenOf(answer)).toMatchObject({ server: 'mbox1', headers: { 'x-forwarded-for': client } });
  });

  it('the balancer without a header is closed and counted; a stranger with one gets 400', async () => {
    expect(await exchange(webPort, GET('/home/alice@example.com/'), BALANCER)).toBe('');
    expect(await web.metric('postern_web_refused_requests_total', { reason: 'proxy-header-malformed' })).toBe(1);
    expect(await exchange(webPort, `PROXY TCP4 203.0.113.9 127.0.0.1 1234 80\r\n${GET('/home/alice@example.com/')}`, '127.0.0.43')).toMatch(
      /^HTTP\/1\.[01] 400 /,
    );
    // A stranger without one is served as it is.
    const direct = await exchange(webPort, GET('/home/alice@example.com/'), '127.0.0.44');
    expect(seenOf(direct)).toMatchObject({ headers: { 'x-forwarded-for': '127.0.0.44' } });
  });

  it('a header that never completes is closed after its deadline', async () => {
    const before = await web.metric('postern_web_refused_requests_total', { reason: 'proxy-header-timeout' });
    expect(await exchange(webPort, 'PROXY TCP4 203.0.113.9', BALANCER)).toBe('');
    await waitFor(
      'the timeout counted',
      async () => (await web.metric('postern_web_refused_requests_total', { reason: 'proxy-header-timeout' })) === before + 1,
      {
        timeoutMs: 30_000,
      },
    );
  });
});

describe('mail listeners behind HAProxy', () => {
  it('the per-address limit counts the clients the headers name, not the balancer', async () => {
    // Without the header every client would be 127.0.0.1, and the second would be refused.
    expect(await greeting(front.imapV2, '127.0.0.51')).toMatch(/^\* OK/);
    expect(await greeting(front.imapV1, '127.0.0.52')).toMatch(/^\* OK/);
    expect(await greeting(front.imapV2, '127.0.0.51')).toMatch(/^\* BYE/);
    expect(await greeting(front.imapV1, '127.0.0.53')).toMatch(/^\* OK/);
  });

  it('the balancer without a header is closed and counted', async () => {
    expect(await exchange(mail.imap, 'a1 CAPABILITY\r\n', BALANCER)).toBe('');
    expect(await mail.service.metric('postern_mail_limit_violations_total', { limit: 'proxy-header-malformed' })).toBe(1);
  });
});
