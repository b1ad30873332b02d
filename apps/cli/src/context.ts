/**
 * What a command talks to, opened on first use and closed at the end: NATS (and through it the
 * config stream and bucket), memcached, the directory. Each is found the way the services find
 * it (POSTERN_* variables, POSTERN_CONFIG_FILE), and each failure says which server could not be
 * reached and what to do, with the exit code of its kind.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { loadBootstrap, type BootstrapConfig } from '@postern/config';
import type { DirectoryBackend, ZimbraDirectory } from '@postern/directory';
import type { MemcachedClient } from '@postern/memcached';
import type { ConfigStore } from '@postern/config-store';

/** sysexits.h: what a script calling `postern` can tell apart. */
export const ExitCode = {
  ok: 0,
  /** A check found problems, or what was asked for does not exist. */
  failed: 1,
  /** The command line is wrong. */
  usage: 64,
  /** A server could not be reached. */
  unavailable: 69,
  /** The configuration is invalid. */
  config: 78,
} as const;

/** An error the user can act on: its message is printed as is, then the process exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Loads a client library on first use, not at start: NATS, JetStream, LDAP and memcached cost
 * start-up time that only the commands talking to them should pay (`postern --help` loads none).
 * `require`, not `import()`: the directory and memcached accessors stay synchronous.
 */
function load<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deliberate lazy load, see above
  return require(id) as T;
}

/** How long connecting to a server may take before the command gives up on it. */
const CONNECT_TIMEOUT_MS = 3_000;

export class CliContext {
  private nc: NatsConnection | undefined;
  private store: ConfigStore | undefined;
  private memcachedClient: MemcachedClient | undefined;
  private backend: DirectoryBackend | undefined;
  readonly bootstrap: BootstrapConfig;

  constructor(overrides: { nats?: string | undefined }) {
    try {
      this.bootstrap = loadBootstrap(overrides.nats ? { ...process.env, POSTERN_NATS_URLS: overrides.nats } : process.env);
    } catch (error) {
      throw new CliError((error as Error).message, ExitCode.config);
    }
  }

  async nats(): Promise<NatsConnection> {
    if (this.nc) return this.nc;
    const servers = this.bootstrap.natsUrls;
    const { connect } = load<typeof import('@nats-io/transport-node')>('@nats-io/transport-node');
    try {
      this.nc = await connect({ servers: [...servers], name: 'postern-cli', timeout: CONNECT_TIMEOUT_MS, maxReconnectAttempts: 0 });
    } catch (error) {
      throw new CliError(
        `cannot reach NATS at ${servers.join(', ')} (${(error as Error).message}); start the stack (npm start) or set POSTERN_NATS_URLS / --nats`,
        ExitCode.unavailable,
      );
    }
    return this.nc;
  }

  async configStore(): Promise<ConfigStore> {
    if (this.store) return this.store;
    const nc = await this.nats();
    const { ConfigStore, ConfigStoreMissingError } = load<typeof import('@postern/config-store')>('@postern/config-store');
    try {
      this.store = await ConfigStore.open(nc, { create: false });
    } catch (error) {
      if (error instanceof ConfigStoreMissingError)
        throw new CliError(`${error.message} (start one: it creates the stream and the bucket)`, ExitCode.unavailable);
      throw new CliError(`cannot read JetStream on ${this.bootstrap.natsUrls.join(', ')}: ${(error as Error).message}`, ExitCode.unavailable);
    }
    return this.store;
  }

  memcached(): MemcachedClient {
    const { MemcachedClient } = load<typeof import('@postern/memcached')>('@postern/memcached');
    this.memcachedClient ??= new MemcachedClient({ servers: [...this.bootstrap.memcachedServers], timeoutMs: CONNECT_TIMEOUT_MS });
    return this.memcachedClient;
  }

  /** The directory (LDAP, else the LDIF file); a usage error when none is configured. */
  directory(): ZimbraDirectory {
    const { openDirectory, ZimbraDirectory } = load<typeof import('@postern/directory')>('@postern/directory');
    if (!this.backend) {
      const backend = openDirectory(this.bootstrap, CONNECT_TIMEOUT_MS * 2);
      if (!backend)
        throw new CliError('no directory configured: set POSTERN_LDAP_URLS (with POSTERN_LDAP_BIND_DN/PASSWORD) or POSTERN_DIRECTORY_LDIF', ExitCode.config);
      this.backend = backend;
    }
    return new ZimbraDirectory(this.backend);
  }

  /** The directory's raw backend (for searches below a domain). */
  directoryBackend(): DirectoryBackend {
    this.directory();
    return this.backend!;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.nc?.close(), this.memcachedClient?.close(), this.backend?.close()]);
  }
}

/** Runs `what` against the directory, turning an outage into a {@link CliError} naming the directory. */
export async function fromDirectory<T>(context: CliContext, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    if (error instanceof CliError) throw error;
    const where = context.bootstrap.ldapUrls.length > 0 ? context.bootstrap.ldapUrls.join(', ') : context.bootstrap.directoryLdif;
    throw new CliError(`cannot read the directory at ${where}: ${(error as Error).message}`, ExitCode.unavailable);
  }
}
