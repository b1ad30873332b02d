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
  /** The HTTP monitoring port (`/healthz`, `/routez`, `/varz`), when asked for. */
  readonly monitorPort?: number;
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
  /** Join a cluster: this server's name and route port and the route URLs of the others. */
  readonly cluster?: { readonly name: string; readonly serverName: string; readonly port: number; readonly routes: readonly string[] };
  /** Open the HTTP monitoring endpoint on this port. */
  readonly monitorPort?: number;
  /**
   * A JetStream store the caller owns: kept when the server exits, however it exits (a server
   * killed and started again on it finds its streams). Default: a scratch store that goes with the server.
   */
  readonly storeDir?: string;
}

export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const owned = options.storeDir === undefined;
  return launch(options, options.storeDir ?? (await scratchDir('nats')), owned);
}

/** Starts nats-server on `dir`; `removeOnExit`: the store is the server's own and goes when it exits. */
async function launch(options: NatsOptions, dir: string, removeOnExit: boolean): Promise<NatsServer> {
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const args = ['-a', host, '-p', String(port)];
  if (options.jetstream ?? true) args.push('-js', '-sd', dir);
  if (options.cluster) {
    args.push('-n', options.cluster.serverName, '--cluster_name', options.cluster.name, '--cluster', `nats://${host}:${options.cluster.port}`);
    if (options.cluster.routes.length > 0) args.push('--routes', options.cluster.routes.join(','));
  }
  if (options.monitorPort !== undefined) args.push('-m', String(options.monitorPort));
  const proc = startProcess(options.cluster?.serverName ?? 'nats-server', binary('nats-server'), args);
  // An own store goes with the server however it stops (stop(), stopAll(), a crash), unless it is restarting on it.
  let restarting = false;
  proc.child.once('exit', () => {
    if (removeOnExit && !restarting) void removeDir(dir);
  });
  await waitFor(`nats-server on ${host}:${port}`, async () => {
    if (proc.exited) throw new Error(`nats-server exited: ${proc.output()}`);
    return canConnect(host, port);
  });
  return {
    host,
    port,
    url: `nats://${host}:${port}`,
    monitorPort: options.monitorPort,
    process: proc,
    async stop() {
      await proc.stop();
      if (removeOnExit) await removeDir(dir);
    },
    async restart({ keepStore = true } = {}) {
      restarting = keepStore;
      await proc.stop();
      if (!keepStore) await removeDir(dir);
      return launch({ ...options, port }, keepStore ? dir : await scratchDir('nats'), removeOnExit || !keepStore);
    },
  };
}

/** A routed NATS cluster on loopback: a client of any server reaches subscribers of every other. */
export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Every client URL, as `POSTERN_NATS_URLS` takes them. */
  readonly urls: string[];
  /** Starts server `i` again on its old ports and, with JetStream, its old store (after it was stopped or killed). */
  restart(i: number): Promise<NatsServer>;
  /** Stops every server and removes the stores. */
  stop(): Promise<void>;
}

/**
 * Starts `size` servers routed to each other, each with a monitoring port. With `jetstream`, each
 * keeps a store of its own that outlives a kill (the cluster's stop() removes it) and the cluster
 * is ready once every server's `/healthz` says JetStream is current; without it, readiness of the
 * routes is the caller's to poll (a request from a client of one server answered by a client of
 * another).
 */
export async function startNatsCluster(size: number, { jetstream = false }: { jetstream?: boolean } = {}): Promise<NatsCluster> {
  const host = '127.0.0.1';
  const ports = (count: number) => Promise.all(Array.from({ length: count }, () => freePort(host)));
  const [routePorts, clientPorts, monitorPorts] = await Promise.all([ports(size), ports(size), ports(size)]);
  const stores = await Promise.all(Array.from({ length: size }, () => scratchDir('nats-node')));
  const name = `postern-test-${routePorts[0]}`;
  const start = (i: number) =>
    startNats({
      jetstream,
      port: clientPorts[i]!,
      monitorPort: monitorPorts[i]!,
      storeDir: stores[i]!,
      cluster: {
        name,
        serverName: `nats-${i}`,
        port: routePorts[i]!,
        routes: routePorts.filter((_, k) => k !== i).map((p) => `nats://${host}:${p}`),
      },
    });
  const servers = await Promise.all(clientPorts.map((_, i) => start(i)));
  const ready = (i: number) => (jetstream ? waitForJetStream(servers[i]!, size) : Promise.resolve());
  await Promise.all(servers.map((_, i) => ready(i)));
  return {
    servers,
    urls: servers.map((s) => s.url),
    async restart(i) {
      servers[i] = await start(i);
      await ready(i);
      return servers[i];
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await Promise.all(stores.map((dir) => removeDir(dir)));
    },
  };
}

/** Until the server has routes to every other and its `/healthz` answers 200 (JetStream current). */
export async function waitForJetStream(server: NatsServer, size: number): Promise<void> {
  const monitor = `http://${server.host}:${server.monitorPort}`;
  await waitFor(
    `${server.process.name}: routes and JetStream`,
    async () => {
      if (server.process.exited) throw new Error(`${server.process.name} exited: ${server.process.output()}`);
      const routes = (await (await fetch(`${monitor}/routez`)).json()) as { num_routes: number };
      return routes.num_routes >= size - 1 && (await fetch(`${monitor}/healthz`)).status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}
