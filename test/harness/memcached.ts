/** Starts a real memcached on an ephemeral loopback port. */
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
