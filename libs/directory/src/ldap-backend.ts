/**
 * The LDAP backend (ldapts 8): several servers with failover, one reused bound connection, every
 * operation bounded by a deadline.
 *
 * Failure model (the same one Zimbra's proxy uses for its lookup handlers, see
 * reference/zimbra-internals.md §1.1): URLs are tried in the configured order; a URL that failed
 * to connect, bind or answer is put at the back of the line for `retryIntervalMs`. When every URL
 * is in that penalty window they are still tried (oldest failure first) rather than failing
 * without trying: an outage that has ended must not cost a further minute.
 */
import type { ConnectionOptions } from 'node:tls';
import {
  AndFilter,
  ApproximateFilter,
  Client,
  EqualityFilter,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NoSuchObjectError,
  NotFilter,
  OrFilter,
  PresenceFilter,
  ResultCodeError,
  SubstringFilter,
  type Entry,
  type Filter as LdaptsFilter,
} from 'ldapts';
import type { DirectoryBackend, DirectoryEntry, SearchOptions } from './directory';
import { DirectoryConfigError, DirectoryUnavailableError } from './errors';
import { parseFilter, type Filter } from './filter';

/** Options of {@link LdapDirectory}. */
export interface LdapDirectoryOptions {
  /** `ldap://host:port` or `ldaps://host:port`, in order of preference. At least one. */
  readonly urls: readonly string[];
  /** Default search base, e.g. `dc=postern,dc=test`. */
  readonly baseDn: string;
  /** Simple-bind DN; anonymous when omitted. */
  readonly bindDn?: string;
  readonly bindPassword?: string;
  /** TCP (and TLS) connect timeout per URL. Default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** Deadline of each LDAP operation (bind, search). Default {@link DEFAULT_OPERATION_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** How long a failed URL goes to the back of the line. Default {@link DEFAULT_RETRY_INTERVAL_MS}. */
  readonly retryIntervalMs?: number;
  /** TLS options for `ldaps://` URLs (CA, client certificate, servername). */
  readonly tlsOptions?: ConnectionOptions;
}

/** A LAN or loopback LDAP server connects in milliseconds; 3 s still survives one lost SYN (1 s initial RTO) and its retry. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
/**
 * Route lookups have a 15 s budget in Zimbra (`zimbraReverseProxyRouteLookupTimeout`); 5 s per
 * operation leaves room to fail over to a second server within it.
 */
export const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;
/** Zimbra's lookup-handler retry interval (`zimbraReverseProxyRouteLookupTimeoutCache`, 60 s). */
export const DEFAULT_RETRY_INTERVAL_MS = 60_000;
/** An unbind is one small write; a peer that has not taken it in this time is gone anyway. */
const UNBIND_GRACE_MS = 1_000;

interface Connection {
  readonly client: Client;
  readonly url: string;
}

class DeadlineExceeded extends Error {}

/**
 * {@link DirectoryBackend} over one or more LDAP servers.
 *
 * Every search is bounded: at most `urls.length × (connectTimeoutMs + timeoutMs)` to
 * (re)connect, plus `timeoutMs` for the search itself, plus one more connect-and-search
 * when a reused connection turns out to be dead. On timeout, refusal, failed bind or any other
 * transport failure the search rejects with {@link DirectoryUnavailableError}; a malformed filter
 * rejects with {@link DirectoryQueryError} before anything is sent. A base DN that does not exist
 * yields no entries.
 */
export class LdapDirectory implements DirectoryBackend {
  private readonly urls: readonly string[];
  private readonly baseDn: string;
  private readonly bindDn: string | undefined;
  private readonly bindPassword: string;
  private readonly connectTimeoutMs: number;
  private readonly operationTimeoutMs: number;
  private readonly retryIntervalMs: number;
  private readonly tlsOptions: ConnectionOptions | undefined;
  /** When each URL last failed (ms since epoch); absent = in good standing. */
  private readonly failedAt = new Map<string, number>();
  private current: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private closed = false;

  constructor(options: LdapDirectoryOptions) {
    if (options.urls.length === 0) throw new DirectoryConfigError('LdapDirectory needs at least one LDAP URL');
    for (const url of options.urls) validateUrl(url);
    this.urls = [...options.urls];
    this.baseDn = options.baseDn;
    this.bindDn = options.bindDn;
    this.bindPassword = options.bindPassword ?? '';
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.operationTimeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS);
    this.retryIntervalMs = positive('retryIntervalMs', options.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS);
    this.tlsOptions = options.tlsOptions;
  }

  /** The URL of the current connection, if one is open (for health output). */
  get connectedUrl(): string | undefined {
    return this.current?.client.isConnected ? this.current.url : undefined;
  }

  async search(filter: string, options: SearchOptions = {}): Promise<DirectoryEntry[]> {
    this.assertOpen();
    // Parse here rather than let ldapts do it: its parser mangles UTF-8 escapes (see filter.ts).
    const ldapFilter = toLdaptsFilter(parseFilter(filter));
    const base = options.base ?? this.baseDn;

    let reused = this.current !== undefined && this.current.client.isConnected;
    for (;;) {
      const connection = await this.connection();
      try {
        return await this.searchOn(connection, base, ldapFilter, options);
      } catch (error) {
        if (error instanceof NoSuchObjectError) return [];
        if (error instanceof ResultCodeError) {
          // The server answered: the connection is fine, the request was refused (access, limits).
          throw new DirectoryUnavailableError(`LDAP search refused by ${connection.url}: ${error.message}`, { cause: error });
        }
        this.markFailed(connection.url);
        await this.discard(connection);
        // A connection that sat idle may have been closed by the server (idle timeout, restart)
        // without us noticing yet: one fresh attempt, unless the server was merely slow.
        if (reused && !(error instanceof DeadlineExceeded) && !this.closed) {
          reused = false;
          continue;
        }
        throw new DirectoryUnavailableError(`LDAP search failed on ${connection.url}: ${describe(error)}`, { cause: error });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connecting;
    if (pending) await pending.catch(() => undefined);
    const connection = this.current;
    if (connection) await this.discard(connection);
  }

  private async searchOn(connection: Connection, base: string, filter: LdaptsFilter, options: SearchOptions): Promise<DirectoryEntry[]> {
    const result = await withDeadline(
      connection.client.search(base, {
        scope: options.scope ?? 'sub',
        filter,
        attributes: options.attributes ? [...options.attributes] : undefined,
        sizeLimit: options.sizeLimit ?? 0,
        // Ask the server to give up too (whole seconds, at least one), so it does not keep working.
        timeLimit: Math.max(1, Math.ceil(this.operationTimeoutMs / 1000)),
      }),
      this.operationTimeoutMs,
      'search',
    );
    return result.searchEntries.map(toDirectoryEntry);
  }

  /** The open connection, or a new one (shared by concurrent callers). */
  private async connection(): Promise<Connection> {
    const current = this.current;
    if (current && current.client.isConnected) return current;
    if (current) await this.discard(current);
    this.connecting ??= this.connectAny().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectAny(): Promise<Connection> {
    const order = this.candidateOrder();
    const failures: unknown[] = [];
    for (const url of order) {
      this.assertOpen();
      const client = new Client({
        url,
        connectTimeout: this.connectTimeoutMs,
        tlsOptions: this.tlsOptions,
        // If ldapts reconnects on its own (it does so transparently inside search), bind again.
        autoRebind: true,
      });
      try {
        // An anonymous simple bind (RFC 4513 §5.1.1) when no DN is configured: it forces the
        // connect now, so that failover happens here and not in the middle of a search.
        await withDeadline(client.bind(this.bindDn ?? '', this.bindPassword), this.connectTimeoutMs + this.operationTimeoutMs, 'connect and bind');
        this.failedAt.delete(url);
        const connection = { client, url };
        if (this.closed) {
          await unbindQuietly(client);
          break;
        }
        this.current = connection;
        return connection;
      } catch (error) {
        // A failed bind leaves the socket open in ldapts: always unbind.
        await unbindQuietly(client);
        this.markFailed(url);
        failures.push(new Error(`${url}: ${describe(error)}`, { cause: error }));
      }
    }
    this.assertOpen();
    const cause = failures.length === 1 ? failures[0] : new AggregateError(failures, 'every LDAP server failed');
    throw new DirectoryUnavailableError(`no LDAP server answered (tried ${order.join(', ')})`, { cause });
  }

  /** Good URLs in configured order, then penalised ones, oldest failure first. */
  private candidateOrder(): string[] {
    const now = Date.now();
    const good: string[] = [];
    const penalised: string[] = [];
    for (const url of this.urls) {
      const failed = this.failedAt.get(url);
      if (failed === undefined || now - failed >= this.retryIntervalMs) good.push(url);
      else penalised.push(url);
    }
    penalised.sort((a, b) => (this.failedAt.get(a) ?? 0) - (this.failedAt.get(b) ?? 0));
    return [...good, ...penalised];
  }

  private markFailed(url: string): void {
    this.failedAt.set(url, Date.now());
  }

  private async discard(connection: Connection): Promise<void> {
    if (this.current === connection) this.current = undefined;
    await unbindQuietly(connection.client);
  }

  private assertOpen(): void {
    if (this.closed) throw new DirectoryUnavailableError('the LDAP directory is closed');
  }
}

/** Converts a parsed filter to ldapts filter objects (values as proper UTF-8 strings). */
export function toLdaptsFilter(filter: Filter): LdaptsFilter {
  switch (filter.type) {
    case 'and':
      return new AndFilter({ filters: filter.filters.map(toLdaptsFilter) });
    case 'or':
      return new OrFilter({ filters: filter.filters.map(toLdaptsFilter) });
    case 'not':
      return new NotFilter({ filter: toLdaptsFilter(filter.filter) });
    case 'present':
      return new PresenceFilter({ attribute: filter.attribute });
    case 'equal':
      return new EqualityFilter({ attribute: filter.attribute, value: filter.value });
    case 'approx':
      return new ApproximateFilter({ attribute: filter.attribute, value: filter.value });
    case 'ge':
      return new GreaterThanEqualsFilter({ attribute: filter.attribute, value: filter.value });
    case 'le':
      return new LessThanEqualsFilter({ attribute: filter.attribute, value: filter.value });
    case 'substring':
      return new SubstringFilter({
        attribute: filter.attribute,
        initial: filter.initial ?? '',
        any: [...filter.any],
        final: filter.final ?? '',
      });
  }
}

/** ldapts returns one value as a string, several as an array, binary ones as Buffers: always `string[]`. */
function toDirectoryEntry(entry: Entry): DirectoryEntry {
  const attributes: Record<string, readonly string[]> = {};
  for (const [name, raw] of Object.entries(entry)) {
    if (name === 'dn') continue;
    const list: readonly (string | Buffer)[] = Array.isArray(raw) ? raw : [raw];
    // ldapts lists a requested attribute the entry does not have (`*` too) with no values.
    if (list.length === 0) continue;
    attributes[name] = list.map((value) => (Buffer.isBuffer(value) ? value.toString('utf8') : value));
  }
  return { dn: entry.dn, attributes: attributes };
}

/**
 * Races `promise` against a timer. The loser is not cancelled (ldapts has no cancellation); the
 * caller discards the connection, which rejects the pending operation, and that rejection is
 * swallowed here.
 */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} timed out after ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function unbindQuietly(client: Client): Promise<void> {
  try {
    await withDeadline(client.unbind(), UNBIND_GRACE_MS, 'unbind');
  } catch {
    // The connection is being dropped either way; nothing more to do with its errors.
  }
}

function validateUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new DirectoryConfigError(`invalid LDAP URL "${url}"`, { cause });
  }
  if (parsed.protocol !== 'ldap:' && parsed.protocol !== 'ldaps:') {
    throw new DirectoryConfigError(`LDAP URL "${url}" must start with ldap:// or ldaps://`);
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new DirectoryConfigError(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
