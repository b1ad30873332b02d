/** Starts a real nats-server (JetStream on by default) on an ephemeral loopback port. */
import { binary, canConnect, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

export interface NatsServer {
  readonly host: string;
  readonly port: number;
  /** `nats://host:port` */
  readonly url: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startNats(options: { jetstream?: boolean; port?: number } = {}): Promise<NatsServer> {
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const dir = await scratchDir('nats');
  const args = ['-a', host, '-p', String(port)];
  if (options.jetstream ?? true) args.push('-js', '-sd', dir);
  const proc = startProcess('nats-server', binary('nats-server'), args);
  // The store goes with the server however it stops (stop(), stopAll(), a crash).
  proc.child.once('exit', () => void removeDir(dir));
  await waitFor(`nats-server on ${host}:${port}`, async () => {
    if (proc.exited) throw new Error(`nats-server exited: ${proc.output()}`);
    return canConnect(host, port);
  });
  return {
    host,
    port,
    url: `nats://${host}:${port}`,
    process: proc,
    async stop() {
      await proc.stop();
      await removeDir(dir);
    },
  };
}
