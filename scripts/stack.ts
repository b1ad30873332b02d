/**
 * The single-node stack: nats-server (JetStream), memcached and Postern's services with the
 * embedded LDIF directory, all on loopback. Ctrl-C stops everything it started.
 *
 * Ports: POSTERN_STACK_NATS_PORT (default 4222) and POSTERN_STACK_MEMCACHED_PORT (11211) when
 * free; otherwise any free port. What is running, and where, is written to .postern/stack.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, freePort, startMemcached, startNats, startService, stopAll } from '../test/harness';

const root = join(__dirname, '..');

async function portOr(preferred: string | undefined, fallback: number): Promise<number> {
  const port = Number(preferred ?? fallback);
  return (await canConnect('127.0.0.1', port)) ? freePort() : port;
}

async function main(): Promise<void> {
  const nats = await startNats({ jetstream: true, port: await portOr(process.env.POSTERN_STACK_NATS_PORT, 4222) });
  const memcached = await startMemcached({ port: await portOr(process.env.POSTERN_STACK_MEMCACHED_PORT, 11211) });
  const ldif = join(root, 'libs', 'directory', 'fixtures', 'directory.ldif');
  const common = {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    POSTERN_DIRECTORY_LDIF: ldif,
    POSTERN_SERVER_NAME: '127.0.0.1',
  };
  const lookup = await startService('route-lookup', common);
  lookup.process.child.stdout?.pipe(process.stdout);

  const state = { nats: nats.url, memcached: memcached.address, directory: ldif, services: { 'route-lookup': { metrics: `http://127.0.0.1:${lookup.httpPort}/metrics` } } };
  mkdirSync(join(root, '.postern'), { recursive: true });
  writeFileSync(join(root, '.postern', 'stack.json'), JSON.stringify(state, null, 2));

  process.stdout.write(`
Postern is running on this machine:
  NATS          ${nats.url}
  memcached     ${memcached.address}
  directory     ${ldif} (embedded, LDIF)
  route-lookup  metrics and health at http://127.0.0.1:${lookup.httpPort}/metrics and /health

Look a route up (in another terminal):
  npm run --silent lookup -- alice@example.com imapssl
  npm run --silent lookup -- carol imap --proxy-ip 127.0.0.11 --client-ip 192.0.2.1

Ctrl-C stops everything.
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping...\n');
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  for (const p of [lookup.process, nats.process, memcached.process]) {
    p.child.once('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`${p.name} exited (${code}); stopping the stack\n${p.output().slice(-2000)}\n`);
        void stop();
      }
    });
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`postern stack: ${(error as Error).message}\n`);
  await stopAll();
  process.exit(1);
});
