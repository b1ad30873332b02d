/**
 * Starts a real nats-server (JetStream on by default) on an ephemeral loopback port, alone or as
 * one of a routed cluster ({@link startNatsCluster}).
 */
import { binary, canConnect, freePort, removeDir, scratchDir, startProcess, waitFor, type ManagedProcess } from './process';

export interface NatsServer {
  readonly host: string;
  readonly port: number;
  /** `nats://host:port` */
  readonly url: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
  /**
   * Stops the server and starts it again on the same port. `keepStore` (default true): with the
   * same JetStream store, as a server restarted on its disk; false: with an empty one, as a server
   * that lost its disk.
   */
  restart(options?: { keepStore?: boolean }): Promise<NatsServer>;
}

export interface NatsOptions {
  readonly jetstream?: boolean;
  /** The client port (default: a free one); pass the old one to restart a stopped server in place. */
  readonly port?: number;
  /** Join a cluster: this server's route port and the route URLs of the others. */
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: readonly string[] };
  /** The JetStream store of a restarted server (internal: see {@link NatsServer.restart}). */
  readonly storeDir?: string;
}

export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const dir = options.storeDir ?? (await scratchDir('nats'));
  const args = ['-a', host, '-p', String(port)];
  if (options.jetstream ?? true) args.push('-js', '-sd', dir);
  if (options.cluster) {
    args.push('--cluster_name', options.cluster.name, '--cluster', `nats://${host}:${options.cluster.port}`);
    if (options.cluster.routes.length > 0) args.push('--routes', options.cluster.routes.join(','));
  }
  const proc = startProcess('nats-server', binary('nats-server'), args);
  // The store goes with the server however it stops (stop(), stopAll(), a crash), unless it is restarting on it.
  let restarting = false;
  proc.child.once('exit', () => {
    if (!restarting) void removeDir(dir);
  });
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
    async restart({ keepStore = true } = {}) {
      restarting = keepStore;
      await proc.stop();
      if (!keepStore) await removeDir(dir);
      return startNats({ ...options, port, ...(keepStore ? { storeDir: dir } : {}) });
    },
  };
}

/** A routed NATS cluster on loopback: a client of any server reaches subscribers of every other. */
export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Every client URL, as `POSTERN_NATS_URLS` takes them. */
  readonly urls: string[];
  /** Starts server `i` again on its old ports (after it was stopped or killed). */
  restart(i: number): Promise<NatsServer>;
}

/**
 * Starts `size` servers routed to each other (JetStream off). Readiness of the routes is the
 * caller's to poll (a request from a client of one server answered by a client of another).
 */
export async function startNatsCluster(size: number): Promise<NatsCluster> {
  const host = '127.0.0.1';
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort(host)));
  const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort(host)));
  const name = `postern-test-${routePorts[0]}`;
  const start = (i: number) =>
    startNats({
      jetstream: false,
      port: clientPorts[i]!,
      cluster: { name, port: routePorts[i]!, routes: routePorts.filter((_, k) => k !== i).map((p) => `nats://${host}:${p}`) },
    });
  const servers = await Promise.all(clientPorts.map((_, i) => start(i)));
  return {
    servers,
    urls: servers.map((s) => s.url),
    async restart(i) {
      servers[i] = await start(i);
      return servers[i];
    },
  };
}
