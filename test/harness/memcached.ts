/** Starts a real memcached on an ephemeral loopback port. */
import { connect } from 'node:net';
import { binary, canConnect, freePort, startProcess, waitFor, type ManagedProcess } from './process';

export interface MemcachedServer {
  readonly host: string;
  readonly port: number;
  /** `host:port`, the form the cache library takes. */
  readonly address: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startMemcached(options: { port?: number } = {}): Promise<MemcachedServer> {
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  // -u nobody: memcached refuses to run as root without it; -U 0: no UDP listener.
  const proc = startProcess('memcached', binary('memcached'), ['-u', 'nobody', '-l', host, '-p', String(port), '-U', '0', '-m', '64', '-c', '4096']);
  await waitFor(`memcached on ${host}:${port}`, async () => {
    if (proc.exited) throw new Error(`memcached exited: ${proc.output()}`);
    return canConnect(host, port);
  });
  return { host, port, address: `${host}:${port}`, process: proc, stop: () => proc.stop() };
}

/**
 * Every key a memcached server holds and its value (`lru_crawler metadump all`, then a `get` of
 * each): what a scan for secrets reads. Keys are URL-encoded by memcached in the dump.
 */
export async function dumpMemcached(address: string): Promise<{ key: string; value: Buffer }[]> {
  const dump = await exchange(address, 'lru_crawler metadump all\r\n');
  const keys = [...dump.toString('latin1').matchAll(/^key=(\S+)/gm)].map((m) => decodeURIComponent(m[1]!));
  const entries: { key: string; value: Buffer }[] = [];
  for (const key of keys) {
    const answer = await exchange(address, `get ${key}\r\n`);
    const header = answer.indexOf('\r\n');
    const length = Number(/^VALUE \S+ \d+ (\d+)/.exec(answer.subarray(0, header).toString('latin1'))?.[1] ?? -1);
    if (length >= 0) entries.push({ key, value: answer.subarray(header + 2, header + 2 + length) });
  }
  return entries;
}

/** `stats` of a memcached server, as numbers (`curr_items`, `cmd_get`, …). */
export async function memcachedStats(address: string): Promise<Record<string, number>> {
  const text = (await exchange(address, 'stats\r\n')).toString('latin1');
  return Object.fromEntries([...text.matchAll(/^STAT (\S+) (\S+)\r$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Sends one command on a connection of its own and returns the answer, up to its closing `END`. */
function exchange(address: string, command: string): Promise<Buffer> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(command));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.toString('latin1').endsWith('END\r\n')) {
        socket.end();
        resolve(received);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`memcached ${address}: no answer to ${command.trim()}`)));
  });
}
