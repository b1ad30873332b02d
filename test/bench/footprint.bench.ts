/**
 * bench:footprint — the memory of the single-node stack `npm start` runs: the RSS of each process
 * idle, at its highest under a light load (IMAPS logins and HTTP requests through Postern), and
 * idle again after it, beside nginx (one worker, a mail proxy and an HTTP proxy to the same
 * mailbox server and web port) under the same load, Dovecot, nats-server and memcached.
 *
 * The target (issue 27): Postern's Node processes idle at ≤ 300 MB RSS in all on a 2-core machine.
 * RSS counts the pages each process maps, Node's own binary included (about 45 MB a process,
 * shared between them by the kernel but counted in each), as `ps` and the figure do.
 *
 * Options: --workers W (the single-node process's POSTERN_WORKERS; default auto, as npm start),
 * --logins N (300), --requests N (3000), --settle-ms MS (how long idle means, 5000).
 */
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs } from 'node:util';
import { freePort, makeCertificate, nginxHttpTempPaths, removeDir, scratchDir, startNginx, startStack, stopAll, type Stack } from '../harness';
import { procStatusBytes } from './support/load';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: 'auto' },
    logins: { type: 'string', default: '300' },
    requests: { type: 'string', default: '3000' },
    'settle-ms': { type: 'string', default: '5000' },
    'node-options': { type: 'string' },
  },
});
const LOGINS = Number(values.logins);
const REQUESTS = Number(values.requests);
const SETTLE_MS = Number(values['settle-ms']);
const TARGET_MB = 300;
const MB = 1024 * 1024;
/** Between two RSS samples while the load runs (the resolution of the "under load" column). */
const SAMPLE_MS = 100;

interface Measured {
  readonly name: string;
  /** The process and, with `tree`, its descendants (workers, Dovecot's processes). */
  readonly pid: number;
  readonly tree?: boolean;
  readonly postern?: boolean;
}

async function descendants(pid: number): Promise<number[]> {
  const tasks = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const children = tasks.split(/\s+/).filter(Boolean).map(Number);
  return [...children, ...(await Promise.all(children.map(descendants))).flat()];
}

/** The RSS of each measured process (a tree as its processes, each with its own row). */
async function sample(measured: readonly Measured[]): Promise<Map<string, number>> {
  const rows = new Map<string, number>();
  for (const m of measured) {
    const pids = m.tree ? [m.pid, ...(await descendants(m.pid))] : [m.pid];
    const rss = await Promise.all(pids.map((pid) => procStatusBytes(pid, 'VmRSS').catch(() => 0)));
    if (m.tree && m.postern) rss.forEach((bytes, i) => rows.set(i === 0 ? `${m.name} (primary)` : `${m.name} (worker ${i - 1})`, bytes));
    else
      rows.set(
        m.name,
        rss.reduce((a, b) => a + b, 0),
      );
  }
  return rows;
}

/** One IMAPS login and logout, read line by line (the login's own tag decides). */
async function imapsLogin(port: number, ca: string, user: string, password: string): Promise<void> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  let buffered = '';
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(buffered);
        if (!match) return;
        socket.off('data', onData);
        buffered = buffered.slice(match.index + match[0].length);
        resolve(match[0]);
      };
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        check();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      check();
    });
  try {
    await waitFor(/^\* OK[^\n]*\n/m);
    socket.write(`a LOGIN ${user} ${password}\r\n`);
    const reply = await waitFor(/^a (OK|NO|BAD)[^\n]*\n/m);
    if (!reply.startsWith('a OK')) throw new Error(`login refused: ${reply.trim()}`);
    socket.write('b LOGOUT\r\n');
    await waitFor(/^b OK[^\n]*\n/m);
  } finally {
    socket.destroy();
  }
}

async function inParallel(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

/** The light load: IMAPS logins (4 at a time) and HTTP requests (8 at a time) together; the highest RSS of each process meanwhile. */
async function underLoad(measured: readonly Measured[], imapsPort: number, httpPort: number, ca: string): Promise<Map<string, number>> {
  const highest = new Map<string, number>();
  let running = true;
  const sampler = (async () => {
    while (running) {
      for (const [name, bytes] of await sample(measured)) highest.set(name, Math.max(highest.get(name) ?? 0, bytes));
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  const started = performance.now();
  await Promise.all([
    inParallel(LOGINS, 4, () => imapsLogin(imapsPort, ca, 'alice@example.com', 'alice-secret')),
    inParallel(REQUESTS, 8, async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/home/alice@example.com/Inbox`);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      await response.arrayBuffer();
    }),
  ]);
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await sampler;
  process.stdout.write(`  load: ${LOGINS} IMAPS logins and ${REQUESTS} HTTP requests in ${seconds.toFixed(1)} s\n`);
  return highest;
}

const idle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const mb = (bytes: number | undefined) => (bytes === undefined ? '—' : `${(bytes / MB).toFixed(1)} MB`);

async function startNginxBeside(stack: Stack) {
  const cert = await makeCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const [imaps, http, auth] = [await freePort(), await freePort(), await freePort()];
  const mbox1 = stack.mailboxes.mbox1;
  const nginx = await startNginx({
    name: 'footprint',
    modules: ['ngx_mail_module.so'],
    workerProcesses: 1,
    listeners: [imaps, http, auth].map((port) => ({ host: '127.0.0.1', port })),
    config: (dir) =>
      [
        'mail {',
        '  proxy on;',
        `  ssl_certificate ${cert.certFile};`,
        `  ssl_certificate_key ${cert.keyFile};`,
        `  server { listen 127.0.0.1:${imaps} ssl; protocol imap; imap_auth login plain; auth_http 127.0.0.1:${auth}/auth; }`,
        '}',
        'http {',
        '  access_log off;',
        nginxHttpTempPaths(dir),
        // The mail proxy's auth_http: every login goes to mbox1 (alice's server), as a route lookup would say.
        `  server { listen 127.0.0.1:${auth}; location = /auth { add_header Auth-Status OK; add_header Auth-Server ${mbox1.host}; add_header Auth-Port ${mbox1.imapPort}; return 204; } }`,
        `  upstream mbox1 { server ${mbox1.host}:${stack.webPorts[0]!.port}; keepalive 16; }`,
        `  server { listen 127.0.0.1:${http}; location / { proxy_pass https://mbox1; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_ssl_verify off; } }`,
        '}',
      ].join('\n'),
  });
  return { nginx, imaps: imaps, http: http, ca: cert.caPem };
}

function table(title: string, rows: readonly string[], columns: readonly Map<string, number>[]): string {
  const line = (name: string, cells: readonly string[]) => `${name.padEnd(34)}${cells.map((c) => c.padStart(13)).join('')}\n`;
  let out = `\n${title}\n${line('process', ['idle', 'under load', 'idle after'])}`;
  for (const name of rows)
    out += line(
      name,
      columns.map((c) => mb(c.get(name))),
    );
  return out;
}

async function main(): Promise<void> {
  process.stdout.write(`bench:footprint — the npm start stack (single-node, POSTERN_WORKERS=${values.workers}), idle ${SETTLE_MS} ms between phases\n`);
  const state = await scratchDir('bench-footprint');
  try {
    const stack = await startStack({ state, workers: values.workers, nodeOptions: values['node-options'] });
    const ca = await readFile(stack.caFile, 'utf8');
    const { nginx, imaps, http, ca: nginxCa } = await startNginxBeside(stack);
    const postern: Measured[] = [{ name: 'postern single-node', pid: stack.node.process.pid, tree: true, postern: true }];
    const others: Measured[] = [
      { name: 'nats-server', pid: stack.nats.process.pid },
      { name: 'memcached', pid: stack.memcached.process.pid },
      { name: 'dovecot mbox1 (all processes)', pid: stack.mailboxes.mbox1.process.pid, tree: true },
      { name: 'dovecot mbox2 (all processes)', pid: stack.mailboxes.mbox2.process.pid, tree: true },
    ];
    const nginxRow: Measured[] = [{ name: 'nginx (master + 1 worker)', pid: nginx.process.pid, tree: true }];

    await idle();
    const before = await sample([...postern, ...others, ...nginxRow]);
    process.stdout.write('Postern under load:\n');
    const loaded = await underLoad([...postern, ...others], stack.ports.imaps, stack.ports.http, ca);
    process.stdout.write('nginx under the same load:\n');
    const nginxLoaded = await underLoad(nginxRow, imaps, http, nginxCa);
    await idle();
    const after = await sample([...postern, ...others, ...nginxRow]);

    const posternRows = [...before.keys()].filter((name) => name.startsWith('postern'));
    const total = (m: Map<string, number>) => posternRows.reduce((sum, name) => sum + (m.get(name) ?? 0), 0);
    const loadedAll = new Map([...loaded, ...nginxLoaded]);
    const columns = [before, loadedAll, after];
    for (const column of columns) column.set('Postern in all', total(column));
    process.stdout.write(table('RSS', [...posternRows, 'Postern in all', ...others.map((o) => o.name), nginxRow[0]!.name], columns));
    const idleTotal = total(before);
    process.stdout.write(
      `\nTarget: Postern's Node processes idle ≤ ${TARGET_MB} MB in all: ${mb(idleTotal)} — ${idleTotal <= TARGET_MB * MB ? 'met' : 'NOT met'}` +
        ` (under load ${mb(total(loaded))}, idle after ${mb(total(after))}; the issue's starting point: 933 MB in nine processes)\n`,
    );
    await nginx.stop();
    await stack.stop();
  } finally {
    await stopAll();
    await removeDir(state);
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:footprint: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
