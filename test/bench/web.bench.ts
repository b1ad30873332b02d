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
 * adds to it are measured in the same run; the Node proxies people would pick instead
 * (support/node-proxy.main.ts: @fastify/http-proxy, fast-proxy, http-proxy, httpxy, each with
 * keep-alive to the same origin); and a lean relay on raw sockets (support/lean-relay.main.ts:
 * hand-parsed heads, pooled upstream sockets), the floor of Node's cost per proxied request; and
 * the floor of the parts issue 27 mandates (support/undici-floor.main.ts: node:http facing clients,
 * undici's dispatch toward the origin, nothing else). After the tables, Postern's targets against
 * them are printed met / NOT met, with whether the mandated floor itself reaches each (if it does
 * not, no Postern built on those parts can) and Postern ÷ that floor, the figure Postern answers for.
 *
 * Postern's main rows are its default: an access line per request, here to a file (as nginx's
 * access_log writes one); a row beside them has it off, so the log's cost is measured too (nginx
 * and HAProxy log nothing). Section 4 is HTTP/2 over TLS, measured with h2load (C connections, 8
 * streams each) against Postern, nginx (`http2`) and HAProxy (`alpn h2,http/1.1`).
 *
 * Options: --seconds S (5 per row, after a 2 s warm-up), --connections C (32), --log-level L (info),
 * --cpu-prof DIR (every process of both Postern web-proxies writes a V8 CPU profile on exit, under
 * DIR/web-proxy and DIR/web-proxy-quiet; the quiet one, access log off, carries the small plain-HTTP
 * row alone; the worker's is the largest file; so do the two floors of the mandated parts, under
 * DIR/undici-floor-small (the small plain-HTTP row alone) and DIR/undici-floor (1 MB and TLS);
 * read them with support/cpuprofile-summary.ts), --postern-node-args=A (Node flags for both Postern
 * web-proxies, space-separated, after an `=` as they start with a dash: `--postern-node-args=--trace-gc`,
 * `"--postern-node-args=--import $PWD/test/bench/support/event-loop-probe.mjs"`), --rows R (the
 * sections to run, comma-separated, of small, big, tls, h2; all by default: `--rows small` is the
 * quick loop for the small plain-HTTP row's tail, and prints only that table and its targets).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    'cpu-prof': { type: 'string' },
    'postern-node-args': { type: 'string', default: '' },
    rows: { type: 'string', default: 'small,big,tls,h2' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const LOG_LEVEL = values['log-level'];
const CPU_PROF_DIR = values['cpu-prof'];
const POSTERN_NODE_ARGS = values['postern-node-args'].split(' ').filter((arg) => arg !== '');
const SECTIONS = ['small', 'big', 'tls', 'h2'] as const;
type Section = (typeof SECTIONS)[number];
const ROWS = new Set(values.rows.split(',').map((r) => r.trim()));
for (const r of ROWS) if (!(SECTIONS as readonly string[]).includes(r)) throw new Error(`--rows: unknown section ${r} (sections: ${SECTIONS.join(', ')})`);
/** Whether the section `s` is measured in this run (`--rows`). */
const runs = (s: Section) => ROWS.has(s);
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

/** Streams each h2load connection keeps in flight. */
const H2_STREAMS = 8;

/** h2load's figures: its log file gives every request's latency, so p50/p99/max are read as wrk's are. */
function h2load(url: string, seconds: number, logFile: string): Promise<WrkFigures> {
  // h2load appends to its log file: each run reads only its own requests.
  rmSync(logFile, { force: true });
  return new Promise((resolve, reject) => {
    execFile(
      binary('h2load'),
      ['-t1', `-c${CONNECTIONS}`, `-m${H2_STREAMS}`, `-D${seconds}`, '--warm-up-time=1', `--log-file=${logFile}`, url],
      { timeout: (seconds + 30) * 1000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout) => {
        if (error) return reject(new Error(`h2load ${url}: ${error.message}\n${stdout}`));
        const latencies = readFileSync(logFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => Number(line.split('\t')[2]) / 1000)
          .sort((a, b) => a - b);
        const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
        const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
        resolve({
          requests: Number(done?.[1] ?? NaN),
          rate: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? NaN),
          p50: at(0.5),
          p99: at(0.99),
          max: latencies[latencies.length - 1] ?? Number.NaN,
          errors: Number(done?.[3] ?? 0) + Number(done?.[4] ?? 0),
        });
      },
    );
  });
}

/** The row of support/undici-floor.main.ts: the parts the issue mandates, and nothing else. */
const MANDATED_FLOOR = 'Node floor, node:http + undici dispatch';

const CPU_GROUPS = ['web-proxy', 'lookup+cache', 'node floor', 'node proxy', 'nginx proxy', 'haproxy', 'origin'] as const;

/** The Node proxies Postern is measured against (support/node-proxy.main.ts `--kind`), as the tables name them. */
const NODE_PROXIES = [
  ['fastify', '@fastify/http-proxy'],
  ['fast-proxy', 'fast-proxy'],
  ['http-proxy', 'http-proxy'],
  ['httpxy', 'httpxy'],
] as const;

async function measure(
  name: string,
  url: string,
  probes: readonly CpuProbe[],
  load: (url: string, seconds: number) => Promise<WrkFigures> = wrk,
): Promise<Row> {
  progress(`  ${name}: ${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured`);
  await load(url, WARMUP_SECONDS);
  const before = await cpuSnapshot(probes);
  const figures = await load(url, SECONDS);
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
    `${pad('what', 42)}${pad('req/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('errors', 8)}${pad('vs direct', 11)}${pad('vs nginx', 10)}${pad('p99 vs nginx', 14)}CPU µs/request: ${CPU_GROUPS.join(', ')}\n`,
  ];
  for (const r of rows) {
    const cpu = CPU_GROUPS.map((g) => fmt((r.cpu.get(g) ?? 0) * 1000, 0)).join(' / ');
    out.push(
      `${pad(r.name, 42)}${pad(fmt(r.rate, 0), 10)}${pad(fmt(r.p50), 9)}${pad(fmt(r.p99), 9)}${pad(fmt(r.max), 9)}${pad(String(r.errors), 8)}` +
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
    const [postern, posternTls, quiet, quietTls] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const lookup = await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
    const startWeb = (name: string, http: number, https: number, accessLog: string) => {
      const config = join(dir, `${name}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          attributes: {
            zimbraMailProxyPort: http,
            zimbraMailSSLProxyPort: https,
            zimbraReverseProxyMailMode: 'both',
            zimbraReverseProxySSLToUpstreamEnabled: false,
            posternWebAccessLog: accessLog,
          },
        }),
      );
      return startService(
        'web-proxy',
        {
          ...common,
          ...directoryEnv(slapd),
          POSTERN_CONFIG_FILE: config,
          POSTERN_BIND_HOST: '127.0.0.1',
          POSTERN_TLS_CERT_FILE: cert.certFile,
          POSTERN_TLS_KEY_FILE: cert.keyFile,
        },
        { nodeArgs: [...POSTERN_NODE_ARGS, ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, name)}`] : [])] },
      );
    };
    const web = await startWeb('web-proxy', postern, posternTls, join(dir, 'access.log'));
    const webQuiet = await startWeb('web-proxy-quiet', quiet, quietTls, 'off');

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
          `    listen 127.0.0.1:${nginxTls} ssl http2;`,
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
        `  bind 127.0.0.1:${haproxyTls} ssl crt ${combined} alpn h2,http/1.1`,
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
    const announced = (child: { process: { output(): string } }, what: string) => Number(new RegExp(`^${what} (\\d+)$`, 'm').exec(child.process.output())?.[1]);
    const [floorTls, nodeItself] = [announced(floor, 'tls'), announced(floor, 'self')];
    progress('starting the Node proxies and the lean relay');
    const childArgs = ['--origin', `${ORIGIN_HOST}:${originPort}`, '--cert', cert.certFile, '--key', cert.keyFile];
    const nodeProxies = await Promise.all(
      NODE_PROXIES.map(async ([kind, name]) => {
        const child = await startTsChild(kind, join(__dirname, 'support', 'node-proxy.main.ts'), ['--kind', kind, ...childArgs]);
        return { name, child, port: child.port, tls: announced(child, 'tls') };
      }),
    );
    const lean = await startTsChild('lean-relay', join(__dirname, 'support', 'lean-relay.main.ts'), childArgs);
    const leanTls = announced(lean, 'tls');
    // Two of them, as the two Postern web-proxies: the first carries the small plain-HTTP row alone,
    // so that its profile compares function by function with the quiet Postern's.
    const startMandated = (name: string) =>
      startTsChild(
        name,
        join(__dirname, 'support', 'undici-floor.main.ts'),
        childArgs,
        CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, name)}`] : [],
      );
    const [mandatedSmall, mandated] = await Promise.all([startMandated('undici-floor-small'), startMandated('undici-floor')]);
    const mandatedTls = announced(mandated, 'tls');
    const probes: CpuProbe[] = [
      { group: 'web-proxy', pid: web.process.pid, tree: true },
      // Idle while the other is measured: one group, whichever is under load.
      { group: 'web-proxy', pid: webQuiet.process.pid, tree: true },
      { group: 'lookup+cache', pid: lookup.process.pid },
      { group: 'lookup+cache', pid: memcached.process.pid },
      { group: 'lookup+cache', pid: nats.process.pid },
      { group: 'lookup+cache', pid: slapd.process.pid },
      { group: 'nginx proxy', pid: nginx.process.pid, tree: true },
      { group: 'haproxy', pid: haproxy.pid, tree: true },
      { group: 'node floor', pid: floor.process.pid },
      // Idle while the other is measured, as the two Postern processes are.
      { group: 'node floor', pid: mandated.process.pid },
      { group: 'node floor', pid: mandatedSmall.process.pid },
      // One at a time under load, as the two Postern processes are.
      ...nodeProxies.map((p) => ({ group: 'node proxy', pid: p.child.process.pid })),
      { group: 'node proxy', pid: lean.process.pid },
      { group: 'origin', pid: origin.process.pid, tree: true },
    ];
    const url = (scheme: string, port: number, path: string, host = '127.0.0.1') => `${scheme}://${host}:${port}${path}`;

    /** The mandated parts' floor, the four Node proxies and the lean relay, one row each, at the URL `at` gives for each listener. */
    const nodeRows = async (at: (listener: { port: number; tls: number }) => string, floorOf = mandated) => {
      const mandatedFloor = await measure(MANDATED_FLOOR, at({ port: floorOf.port, tls: mandatedTls }), probes);
      const proxies: Row[] = [];
      for (const p of nodeProxies) proxies.push(await measure(p.name, at(p), probes));
      return { mandated: mandatedFloor, proxies, lean: await measure('lean relay (raw sockets)', at({ port: lean.port, tls: leanTls }), probes) };
    };

    // Each section only when --rows has it (undefined otherwise: its table and targets are left out).
    const section = async <T>(s: Section, what: string, rows: () => Promise<T>): Promise<T | undefined> => {
      if (!runs(s)) return undefined;
      progress(what);
      return rows();
    };
    const small = await section('small', 'small responses over HTTP', async () => ({
      direct: await measure('mailbox server direct', url('http', originPort, SMALL, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('http', postern, SMALL), probes),
      quiet: await measure('Postern, access log off', url('http', quiet, SMALL), probes),
      nginx: await measure('nginx (1 worker)', url('http', nginxPort, SMALL), probes),
      haproxy: await measure('HAProxy (1 thread)', url('http', haproxyPort, SMALL), probes),
      floor: await measure('Node floor (relay only)', url('http', floor.port, SMALL), probes),
      ceiling: await measure('Node answering itself', url('http', nodeItself, SMALL), probes),
      ...(await nodeRows((p) => url('http', p.port, SMALL), mandatedSmall)),
    }));
    const big = await section('big', '1 MB responses over HTTP', async () => ({
      direct: await measure('mailbox server direct', url('http', originPort, BIG, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('http', postern, BIG), probes),
      nginx: await measure('nginx (1 worker)', url('http', nginxPort, BIG), probes),
      haproxy: await measure('HAProxy (1 thread)', url('http', haproxyPort, BIG), probes),
      floor: await measure('Node floor (relay only)', url('http', floor.port, BIG), probes),
      ...(await nodeRows((p) => url('http', p.port, BIG))),
    }));
    const tls = await section('tls', 'small responses over TLS (SNI localhost)', async () => ({
      direct: await measure('mailbox server direct', url('https', originTlsPort, SMALL, ORIGIN_HOST), probes),
      postern: await measure('Postern (1 worker)', url('https', posternTls, SMALL, 'localhost'), probes),
      nginx: await measure('nginx (1 worker)', url('https', nginxTls, SMALL, 'localhost'), probes),
      haproxy: await measure('HAProxy (1 thread)', url('https', haproxyTls, SMALL, 'localhost'), probes),
      floor: await measure('Node floor (relay only)', url('https', floorTls, SMALL, 'localhost'), probes),
      ...(await nodeRows((p) => url('https', p.tls, SMALL, 'localhost'))),
    }));
    const h2log = join(dir, 'h2load.log');
    const viaH2 = (u: string, seconds: number) => h2load(u, seconds, h2log);
    const h2 = await section('h2', `small responses over HTTP/2 (h2load, ${H2_STREAMS} streams per connection; SNI localhost)`, async () => ({
      postern: await measure('Postern (1 worker)', url('https', posternTls, SMALL, 'localhost'), probes, viaH2),
      nginx: await measure('nginx (1 worker)', url('https', nginxTls, SMALL, 'localhost'), probes, viaH2),
      haproxy: await measure('HAProxy (1 thread)', url('https', haproxyTls, SMALL, 'localhost'), probes, viaH2),
    }));
    const handshakes = await web.metric('postern_web_tls_handshakes_total', { certificate: 'virtual-host' });
    const h2Requests = await web.metric('postern_web_requests_total', { protocol: 'h2' });

    const out: string[] = [];
    if (small)
      out.push(
        table(
          '1. A small response (17 bytes), plain HTTP',
          [small.direct, small.postern, small.quiet, small.nginx, small.haproxy, small.floor, small.ceiling, small.mandated, ...small.proxies, small.lean],
          small.direct,
          small.nginx,
        ),
      );
    if (big)
      out.push(
        table(
          '2. A 1 MB response, plain HTTP',
          [big.direct, big.postern, big.nginx, big.haproxy, big.floor, big.mandated, ...big.proxies, big.lean],
          big.direct,
          big.nginx,
        ),
      );
    if (tls)
      out.push(
        table(
          '3. A small response over TLS (connections kept alive; SNI localhost)',
          [tls.direct, tls.postern, tls.nginx, tls.haproxy, tls.floor, tls.mandated, ...tls.proxies, tls.lean],
          tls.direct,
          tls.nginx,
        ),
      );
    if (h2) out.push(table('4. A small response over HTTP/2 and TLS (h2load; SNI localhost)', [h2.postern, h2.nginx, h2.haproxy], h2.nginx, h2.nginx));
    const cpuOf = (r: Row, group: string) => (r.cpu.get(group) ?? 0) * 1000;
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const line = (label: string, rows: { postern: Row; nginx: Row; floor: Row }) =>
      `  ${pad(label, 12)} req/s ${ratio(rows.postern.rate, rows.nginx.rate)} of nginx → ${met(rows.postern.rate >= rows.nginx.rate)}; ` +
      `p99 ${fmt(rows.postern.p99)} vs ${fmt(rows.nginx.p99)} ms → ${met(rows.postern.p99 <= rows.nginx.p99)}; ` +
      `CPU ${fmt(cpuOf(rows.postern, 'web-proxy'), 0)} vs ${fmt(cpuOf(rows.nginx, 'nginx proxy'), 0)} µs/request (${ratio(cpuOf(rows.postern, 'web-proxy'), cpuOf(rows.nginx, 'nginx proxy'))}); ` +
      `Node floor: ${ratio(rows.floor.rate, rows.nginx.rate)} of nginx's req/s, ${fmt(cpuOf(rows.floor, 'node floor'), 0)} µs/request; Postern ÷ floor: req/s ${ratio(rows.postern.rate, rows.floor.rate)}, CPU ${ratio(cpuOf(rows.postern, 'web-proxy'), cpuOf(rows.floor, 'node floor'))}\n`;
    out.push(`\nTargets (information, not asserted): at least nginx's requests per second per core, p99 no worse\n`);
    if (small) out.push(line('small', small));
    if (small)
      out.push(
        `  ${pad('', 12)} Node's HTTP server answering by itself (no upstream at all): ${ratio(small.ceiling.rate, small.nginx.rate)} of nginx-as-proxy's req/s, ` +
          `${fmt(cpuOf(small.ceiling, 'node floor'), 0)} µs/request against nginx's ${fmt(cpuOf(small.nginx, 'nginx proxy'), 0)} for a whole proxied request\n`,
      );
    if (big) out.push(line('1 MB', big));
    if (tls) out.push(line('TLS small', tls));
    if (h2)
      out.push(
        `  ${pad('h2 small', 12)} req/s ${ratio(h2.postern.rate, h2.nginx.rate)} of nginx, ${ratio(h2.postern.rate, h2.haproxy.rate)} of HAProxy; ` +
          `p99 (max) ${fmt(h2.postern.p99)} (${fmt(h2.postern.max)}) vs nginx ${fmt(h2.nginx.p99)} (${fmt(h2.nginx.max)}), HAProxy ${fmt(h2.haproxy.p99)} (${fmt(h2.haproxy.max)}) ms; ` +
          `CPU ${fmt(cpuOf(h2.postern, 'web-proxy'), 0)} vs ${fmt(cpuOf(h2.nginx, 'nginx proxy'), 0)} / ${fmt(cpuOf(h2.haproxy, 'haproxy'), 0)} µs/request\n`,
      );
    out.push(`\nTargets against the Node proxies (${NODE_PROXIES.map(([, name]) => name).join(', ')}) and the lean relay\n`);
    const judged = (what: string, ok: boolean, figures: string) => `  ${pad(what, 52)} ${pad(met(ok), 8)} ${figures}\n`;
    /** Whether the mandated parts' floor itself meets a target: if it does not, Postern built on them cannot. */
    const reachable = (what: string, ok: boolean, floorRatio: number, measured: string, against: string) =>
      `  ${pad(what, 52)} ${ok ? 'reachable' : `not reachable with Node's HTTP server and undici (floor ${fmt(floorRatio)}x)`}; ${MANDATED_FLOOR}: ${measured} ${fmt(floorRatio)}x ${against}\n`;
    const versusNode = (label: string, rows: { postern: Row; mandated: Row; proxies: readonly Row[]; lean: Row }) => {
      const cpu = cpuOf(rows.postern, 'web-proxy');
      const floorCpu = cpuOf(rows.lean, 'node proxy');
      const mandatedCpu = cpuOf(rows.mandated, 'node floor');
      const best = rows.proxies.reduce((a, b) => (b.rate > a.rate ? b : a));
      const lowestP99 = rows.proxies.reduce((a, b) => (b.p99 < a.p99 ? b : a));
      return (
        reachable(`${label}: the CPU target`, mandatedCpu <= 1.4 * floorCpu, mandatedCpu / floorCpu, 'CPU', 'the lean relay') +
        reachable(
          `${label}: the rate target`,
          rows.mandated.rate >= 1.2 * best.rate,
          rows.mandated.rate / best.rate,
          'req/s',
          `the best Node proxy's (${best.name})`,
        ) +
        `  ${pad(`${label}: Postern ÷ ${MANDATED_FLOOR}`, 61)} CPU ${ratio(cpu, mandatedCpu)} (${fmt(cpu, 0)} vs ${fmt(mandatedCpu, 0)} µs), req/s ${ratio(rows.postern.rate, rows.mandated.rate)}, ` +
        `p99 ${fmt(rows.postern.p99)} vs ${fmt(rows.mandated.p99)} ms\n` +
        judged(
          `${label}: CPU per request ≤ 1.4× the lean relay's`,
          cpu <= 1.4 * floorCpu,
          `${fmt(cpu, 0)} vs ${fmt(floorCpu, 0)} µs (${ratio(cpu, floorCpu)})`,
        ) +
        judged(
          `${label}: req/s ≥ 1.2× the best Node proxy's`,
          rows.postern.rate >= 1.2 * best.rate,
          `${fmt(rows.postern.rate, 0)} vs ${fmt(best.rate, 0)} (${best.name}) (${ratio(rows.postern.rate, best.rate)})`,
        ) +
        judged(
          `${label}: p99 no worse than any Node proxy's`,
          rows.postern.p99 <= lowestP99.p99,
          `${fmt(rows.postern.p99)} vs ${fmt(lowestP99.p99)} ms (${lowestP99.name}); max ${fmt(rows.postern.max)} vs ${fmt(lowestP99.max)} ms`,
        )
      );
    };
    if (small) out.push(versusNode('small', small));
    if (big)
      out.push(
        judged(
          "1 MB: req/s ≥ 0.9× nginx's",
          big.postern.rate >= 0.9 * big.nginx.rate,
          `${fmt(big.postern.rate, 0)} vs ${fmt(big.nginx.rate, 0)} (${ratio(big.postern.rate, big.nginx.rate)})`,
        ),
      );
    if (tls) out.push(versusNode('TLS small', tls));
    if (small)
      out.push(
        `\nThe access log's cost (small, plain HTTP): with it ÷ without: req/s ${ratio(small.postern.rate, small.quiet.rate)}, ` +
          `CPU ${fmt(cpuOf(small.postern, 'web-proxy') - cpuOf(small.quiet, 'web-proxy'), 1)} µs/request more (${fmt(cpuOf(small.postern, 'web-proxy'), 0)} vs ${fmt(cpuOf(small.quiet, 'web-proxy'), 0)})\n`,
      );
    out.push(
      `\nPostern: one web-proxy worker, logging at ${LOG_LEVEL}, an access line per request to a file, the REST rule and the route from memcached; ${handshakes} TLS handshakes got the virtual host's own certificate; ${h2Requests} requests came over h2.\n` +
        `nginx ${nginxVersion()}: worker_processes 1, upstream keepalive 64, access_log off, http2 on its TLS listener. HAProxy: nbthread 1, http-reuse always, alpn h2,http/1.1. wrk and h2load: one thread, ${CONNECTIONS} connections.\n` +
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
