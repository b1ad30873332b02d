/**
 * bench:web — HTTP requests per second, p50/p99/max, and CPU per request through Postern's
 * web-proxy, next to the mailbox server's web port reached directly, nginx as a reverse proxy and
 * HAProxy, all measured in the same run: a small response and a 1 MB one over plain HTTP, and the
 * small one over TLS (the client sends SNI; Postern picks the virtual host's certificate).
 *
 * The "mailbox server" is an nginx (one worker) on mbox1's address serving `/home/alice@example.com/…`
 * (a fixed short body, and a 1 MB file): fast enough that the proxies' own cost shows. Postern runs
 * its whole path: the REST rule, the route from memcached (route-lookup and slapd on a miss),
 * forwarded headers, a kept-alive connection pool. nginx (`worker_processes 1`, upstream keepalive)
 * and HAProxy (`nbthread 1`, `http-reuse always`) forward to the same server. The load is wrk's (one
 * thread, C connections, kept alive), which shares the machine's cores with everything measured.
 * Beside them, the platform's floor (support/web-floor.main.ts): a Node proxy that only relays (node:http
 * server, a keep-alive agent, pipe), so that what Node itself costs per request and what Postern
 * adds to it are measured in the same run.
 *
 * Options: --seconds S (5 per row, after a 2 s warm-up), --connections C (32), --log-level L (info).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  binary,
  directoryEnv,
  directoryWithWebPorts,
  freePort,
  makeCertificate,
  nginxHttpTempPaths,
  nginxVersion,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startNginx,
  startHaproxy,
  haproxyPreamble,
  startService,
  startSlapd,
  stopAll,
  type NatsServer,
} from '../harness';
import { cpuBetween, cpuSnapshot, type CpuProbe } from './support/load';
import { startTsChild } from './support/ts-child';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const LOG_LEVEL = values['log-level'];
const WARMUP_SECONDS = 2;
const ORIGIN_HOST = '127.0.0.2';
const SMALL = '/home/alice@example.com/small';
const BIG = '/home/alice@example.com/big';
const BIG_BYTES = 1024 * 1024;

interface WrkFigures {
  readonly requests: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
}

interface Row extends WrkFigures {
  readonly name: string;
  readonly cpu: ReadonlyMap<string, number>;
}

/** Milliseconds from wrk's `1.23ms` / `456.00us` / `1.20s`. */
function ms(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const n = Number(match[1]);
  return match[2] === 'us' ? n / 1000 : match[2] === 'ms' ? n : match[2] === 's' ? n * 1000 : n * 60_000;
}

function wrk(url: string, seconds: number): Promise<WrkFigures> {
  return new Promise((resolve, reject) => {
    execFile(
      binary('wrk'),
      ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '10s', url],
      { timeout: (seconds + 30) * 1000 },
      (error, stdout) => {
        if (error) return reject(new Error(`wrk ${url}: ${error.message}\n${stdout}`));
        const latency = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(stdout);
        const p = (pct: string) => ms(new RegExp(`\\s${pct}%\\s+(\\S+)`).exec(stdout)?.[1] ?? '');
        const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
        const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1];
        const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
        resolve({
          requests,
          rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN),
          p50: p('50'),
          p99: p('99'),
          max: ms(latency?.[3] ?? ''),
          errors: Number(errors ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
        });
      },
    );
  });
}

const CPU_GROUPS = ['web-proxy', 'lookup+cache', 'node floor', 'nginx proxy', 'haproxy', 'origin'] as const;

async function measure(name: string, url: string, probes: readonly CpuProbe[]): Promise<Row> {
  progress(`  ${name}: ${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured`);
  await wrk(url, WARMUP_SECONDS);
  const before = await cpuSnapshot(probes);
  const figures = await wrk(url, SECONDS);
  const cpu = cpuBetween(before, await cpuSnapshot(probes), figures.requests);
  return { name, ...figures, cpu };
}

function progress(text: string): void {
  process.stderr.write(`· ${text}\n`);
}

const pad = (text: string, width: number) => text.padEnd(width);
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '—');

function table(title: string, rows: readonly Row[], direct: Row, nginx: Row): string {
  const out = [
    `\n${title}\n`,
    `${pad('what', 30)}${pad('req/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('errors', 8)}${pad('vs direct', 11)}${pad('vs nginx', 10)}${pad('p99 vs nginx', 14)}CPU µs/request: ${CPU_GROUPS.join(', ')}\n`,
  ];
  for (const r of rows) {
    const cpu = CPU_GROUPS.map((g) => fmt((r.cpu.get(g) ?? 0) * 1000, 0)).join(' / ');
    out.push(
      `${pad(r.name, 30)}${pad(fmt(r.rate, 0), 10)}${pad(fmt(r.p50), 9)}${pad(fmt(r.p99), 9)}${pad(fmt(r.max), 9)}${pad(String(r.errors), 8)}` +
        `${pad(ratio(r.rate, direct.rate), 11)}${pad(ratio(r.rate, nginx.rate), 10)}${pad(ratio(r.p99, nginx.p99), 14)}${cpu}\n`,
    );
  }
  return out.join('');
}

async function main(): Promise<void> {
  process.stdout.write(`bench:web — ${SECONDS} s per row after ${WARMUP_SECONDS} s warm-up, ${CONNECTIONS} connections kept alive (wrk, one thread)\n`);
  const dir = await scratchDir('bench-web');
  let nats: NatsServer | undefined;
  try {
    const cert = await makeCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
    const combined = join(dir, 'combined.pem');
    writeFileSync(combined, `${cert.certPem}\n${cert.keyPem}`);

    progress('starting the origin (nginx on mbox1), nats-server, memcached');
    const [originPort, originTlsPort] = await Promise.all([freePort(ORIGIN_HOST), freePort(ORIGIN_HOST)]);
    const docroot = join(dir, 'docroot');
    mkdirSync(join(docroot, 'home', 'alice@example.com'), { recursive: true });
    writeFileSync(join(docroot, BIG), Buffer.alloc(BIG_BYTES, 'x'));
    // nginx's worker runs as another user: the scratch directory (0700) must let it read the files.
    for (const path of [dir, docroot, join(docroot, 'home'), join(docroot, 'home', 'alice@example.com')]) chmodSync(path, 0o755);
    const origin = await startNginx({
      name: 'origin',
      workerProcesses: 1,
      listeners: [
        { host: ORIGIN_HOST, port: originPort },
        { host: ORIGIN_HOST, port: originTlsPort },
      ],
      config: (nginxDir) =>
        [
          'http {',
          '  access_log off;',
          '  keepalive_requests 1000000;',
          nginxHttpTempPaths(nginxDir),
          '  server {',
          `    listen ${ORIGIN_HOST}:${originPort};`,
          `    listen ${ORIGIN_HOST}:${originTlsPort} ssl;`,
          `    ssl_certificate ${cert.certFile};`,
          `    ssl_certificate_key ${cert.keyFile};`,
          `    location = ${SMALL} { default_type text/plain; return 200 "hello from mbox1\\n"; }`,
          `    location / { root ${docroot}; }`,
          '  }',
          '}',
        ].join('\n'),
    });
    const [natsServer, memcached] = await Promise.all([startNats({ jetstream: false }), startMemcached()]);
    nats = natsServer;

    progress('starting slapd, route-lookup and the web-proxy (one worker)');
    // example.com also claims "localhost", the name wrk sends as SNI, with a certificate of its own.
    const domainCert = await makeCertificate({ commonName: 'mail.example.com', altNames: ['localhost', 'mail.example.com'] });
    const fixture = directoryWithWebPorts({ mbox1: originPort }, { exampleCertificate: domainCert }).replace(
      'zimbraVirtualHostname: mail.example.com',
      'zimbraVirtualHostname: mail.example.com\nzimbraVirtualHostname: localhost',
    );
    const slapd = await startSlapd({ fixture });
    const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address, POSTERN_LOG_LEVEL: LOG_LEVEL };
    const [postern, posternTls] = await Promise.all([freePort(), freePort()]);
    const config = join(dir, 'web-proxy.json');
    writeFileSync(
      config,
      JSON.stringify({
        attributes: {
          zimbraMailProxyPort: postern,
          zimbraMailSSLProxyPort: posternTls,
          zimbraReverseProxyMailMode: 'both',
          zimbraReverseProxySSLToUpstreamEnabled: false,
        },
      }),
    );
    const lookup = await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
    const web = await startService('web-proxy', {
      ...common,
      ...directoryEnv(slapd),
      POSTERN_CONFIG_FILE: config,
      POSTERN_BIND_HOST: '127.0.0.1',
      POSTERN_TLS_CERT_FILE: cert.certFile,
      POSTERN_TLS_KEY_FILE: cert.keyFile,
    });

    progress('starting nginx (reverse proxy, one worker) and HAProxy (one thread)');
    const [nginxPort, nginxTls, haproxyPort, haproxyTls] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const nginx = await startNginx({
      name: 'proxy',
      workerProcesses: 1,
      listeners: [
        { host: '127.0.0.1', port: nginxPort },
        { host: '127.0.0.1', port: nginxTls },
      ],
      config: (nginxDir) =>
        [
          'http {',
          '  access_log off;',
          '  keepalive_requests 1000000;',
          nginxHttpTempPaths(nginxDir),
          `  upstream mailbox { server ${ORIGIN_HOST}:${originPort}; keepalive 64; }`,
          '  server {',
          `    listen 127.0.0.1:${nginxPort};`,
          `    listen 127.0.0.1:${nginxTls} ssl;`,
          `    ssl_certificate ${cert.certFile};`,
          `    ssl_certificate_key ${cert.keyFile};`,
          '    location / {',
          '      proxy_pass http://mailbox;',
          '      proxy_http_version 1.1;',
          '      proxy_set_header Connection "";',
          '      proxy_set_header Host $host;',
          '      proxy_set_header X-Forwarded-For $remote_addr;',
          '      proxy_set_header X-Forwarded-Proto $scheme;',
          '    }',
          '  }',
          '}',
        ].join('\n'),
    });
    const haproxy = await startHaproxy(
      dir,
      'haproxy',
      [
        ...haproxyPreamble('http'),
        'frontend web',
        `  bind 127.0.0.1:${haproxyPort}`,
        `  bind 127.0.0.1:${haproxyTls} ssl crt ${combined}`,
        '  option forwardfor',
        '  default_backend mailbox',
        'backend mailbox',
        '  http-reuse always',
        `  server mbox1 ${ORIGIN_HOST}:${originPort}`,
        '',
      ].join('\n'),
      [haproxyPort, haproxyTls],
    );

    const floor = await startTsChild('web-floor', join(__dirname, 'support', 'web-floor.main.ts'), [
      '--origin',
      `${ORIGIN_HOST}:${originPort}`,
      '--cert',
      cert.certFile,
      '--key',
      cert.keyFile,
    ]);
    const announced = (what: string) => Number(new RegExp(`^${what} (\\d+)$`, 'm').exec(floor.process.output())?.[1]);
    const [floorTls, nodeItself] = [announced('tls'), announced('self')];
    const probes: CpuProbe[] = [
      { group: 'web-proxy', pid: web.process.pid, tree: true },
      { group: 'lookup+cache', pid: lookup.process.pid },
      { group: 'lookup+cache', pid: memcached.process.pid },
      { group: 'lookup+cache', pid: nats.process.pid },
      { group: 'lookup+cache', pid: slapd.process.pid },
      { group: 'nginx proxy', pid: nginx.process.pid, tree: true },
      { group: 'haproxy', pid: haproxy.pid, tree: true },
      { group: 'node floor', pid: floor.process.pid },
      { group: 'origin', pid: origin.process.pid, tree: true },
    ];
    const url = (scheme: string, port: number, path: string, host = '127.0.0.1') => `${scheme}://${host}:${port}${path}`;

    progress('small responses over HTTP');
    const small = {
      direct: await measure('mailbox server direct', url('http', originPort, SMALL, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('http', postern, SMALL), probes),
      nginx: await measure('nginx (1 worker)', url('http', nginxPort, SMALL), probes),
      haproxy: await measure('HAProxy (1 thread)', url('http', haproxyPort, SMALL), probes),
      floor: await measure('Node floor (relay only)', url('http', floor.port, SMALL), probes),
      ceiling: await measure('Node answering itself', url('http', nodeItself, SMALL), probes),
    };
    progress('1 MB responses over HTTP');
    const big = {
      direct: await measure('mailbox server direct', url('http', originPort, BIG, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('http', postern, BIG), probes),
      nginx: await measure('nginx (1 worker)', url('http', nginxPort, BIG), probes),
      haproxy: await measure('HAProxy (1 thread)', url('http', haproxyPort, BIG), probes),
      floor: await measure('Node floor (relay only)', url('http', floor.port, BIG), probes),
    };
    progress('small responses over TLS (SNI localhost)');
    const tls = {
      direct: await measure('mailbox server direct', url('https', originTlsPort, SMALL, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('https', posternTls, SMALL, 'localhost'), probes),
      nginx: await measure('nginx (1 worker)', url('https', nginxTls, SMALL, 'localhost'), probes),
      haproxy: await measure('HAProxy (1 thread)', url('https', haproxyTls, SMALL, 'localhost'), probes),
      floor: await measure('Node floor (relay only)', url('https', floorTls, SMALL, 'localhost'), probes),
    };
    const handshakes = await web.metric('postern_web_tls_handshakes_total', { certificate: 'virtual-host' });

    const out: string[] = [];
    out.push(
      table(
        '1. A small response (17 bytes), plain HTTP',
        [small.direct, small.postern, small.nginx, small.haproxy, small.floor, small.ceiling],
        small.direct,
        small.nginx,
      ),
    );
    out.push(table('2. A 1 MB response, plain HTTP', [big.direct, big.postern, big.nginx, big.haproxy, big.floor], big.direct, big.nginx));
    out.push(
      table(
        '3. A small response over TLS (connections kept alive; SNI localhost)',
        [tls.direct, tls.postern, tls.nginx, tls.haproxy, tls.floor],
        tls.direct,
        tls.nginx,
      ),
    );
    const cpuOf = (r: Row, group: string) => (r.cpu.get(group) ?? 0) * 1000;
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const line = (label: string, rows: { postern: Row; nginx: Row; floor: Row }) =>
      `  ${pad(label, 12)} req/s ${ratio(rows.postern.rate, rows.nginx.rate)} of nginx → ${met(rows.postern.rate >= rows.nginx.rate)}; ` +
      `p99 ${fmt(rows.postern.p99)} vs ${fmt(rows.nginx.p99)} ms → ${met(rows.postern.p99 <= rows.nginx.p99)}; ` +
      `CPU ${fmt(cpuOf(rows.postern, 'web-proxy'), 0)} vs ${fmt(cpuOf(rows.nginx, 'nginx proxy'), 0)} µs/request (${ratio(cpuOf(rows.postern, 'web-proxy'), cpuOf(rows.nginx, 'nginx proxy'))}); ` +
      `Node floor: ${ratio(rows.floor.rate, rows.nginx.rate)} of nginx's req/s, ${fmt(cpuOf(rows.floor, 'node floor'), 0)} µs/request; Postern ÷ floor: req/s ${ratio(rows.postern.rate, rows.floor.rate)}, CPU ${ratio(cpuOf(rows.postern, 'web-proxy'), cpuOf(rows.floor, 'node floor'))}\n`;
    out.push(`\nTargets (information, not asserted): at least nginx's requests per second per core, p99 no worse\n`);
    out.push(line('small', small));
    out.push(
      `  ${pad('', 12)} Node's HTTP server answering by itself (no upstream at all): ${ratio(small.ceiling.rate, small.nginx.rate)} of nginx-as-proxy's req/s, ` +
        `${fmt(cpuOf(small.ceiling, 'node floor'), 0)} µs/request against nginx's ${fmt(cpuOf(small.nginx, 'nginx proxy'), 0)} for a whole proxied request\n`,
    );
    out.push(line('1 MB', big));
    out.push(line('TLS small', tls));
    out.push(
      `\nPostern: one web-proxy worker, logging at ${LOG_LEVEL}, the REST rule and the route from memcached; ${handshakes} TLS handshakes got the virtual host's own certificate.\n` +
        `nginx ${nginxVersion()}: worker_processes 1, upstream keepalive 64. HAProxy: nbthread 1, http-reuse always. wrk: one thread, ${CONNECTIONS} connections.\n` +
        `Everything shares this machine's ${cpus().length} cores, wrk included; CPU per request is user+system time from /proc over the measured pass.\n`,
    );
    process.stdout.write(out.join(''));
  } finally {
    await nats?.stop();
    await stopAll();
    await removeDir(dir);
  }
}

process.once('SIGINT', () => {
  void stopAll().finally(() => process.exit(130));
});

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:web failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
