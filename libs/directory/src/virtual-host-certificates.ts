/**
 * A certificate per virtual host, chosen by the TLS client's SNI name: the domain whose
 * `zimbraVirtualHostname` is that name, with its `zimbraSSLCertificate` and `zimbraSSLPrivateKey`
 * (PEM, in the directory); the default certificate for a name no domain claims, a domain without
 * a certificate of its own, or no SNI at all.
 *
 * Built for many thousands of domains: a name's context is built on its first handshake and kept
 * in a bounded cache (least recently used out first), so neither start nor memory grows with the
 * number of domains. `refresh()` (SIGHUP) marks every entry stale: the next handshake for a name
 * reads the directory again, and a certificate that no longer loads (bad PEM, key not matching) is
 * refused with a log line while the previous one stays in service. A directory that cannot be read
 * serves the previous context too, or the default.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { attr, type ZimbraDirectory } from './zimbra-directory';
import type { DirectoryLog } from './virtual-host-names';

/** Names whose context is kept (each holds a parsed certificate and key: a few KiB). */
const MAX_CONTEXTS = 10_000;
/** How long a name that no domain claims is remembered as such (so a scan of names costs one search each per minute). */
const UNKNOWN_NAME_TTL_MS = 60_000;

/** Where a handshake's certificate came from (metrics). */
export type CertificateSource = 'virtual-host' | 'default';

interface Entry {
  readonly context: SecureContext | undefined;
  readonly at: number;
  /** Read before the last refresh: good until the directory says otherwise. */
  stale: boolean;
}

export class VirtualHostCertificates {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<SecureContext | undefined>>();
  private generation = 0;

  constructor(
    /** Without a directory every name gets the default. */
    private readonly directory: ZimbraDirectory | undefined,
    readonly defaultContext: SecureContext,
    private readonly logger: DirectoryLog,
    private readonly onHandshake: (source: CertificateSource) => void = () => undefined,
  ) {}

  /** The context for `serverName` (the default when none is its own). Never rejects. */
  async contextFor(serverName: string | undefined): Promise<SecureContext> {
    const name = serverName?.toLowerCase();
    const own = this.directory && name && /^[a-z0-9.-]{1,253}$/.test(name) ? await this.ownContext(this.directory, name) : undefined;
    this.onHandshake(own ? 'virtual-host' : 'default');
    return own ?? this.defaultContext;
  }

  /** Marks every kept context stale: each is read again on its next use (SIGHUP, a config event). */
  refresh(): void {
    this.generation++;
    for (const entry of this.entries.values()) entry.stale = true;
  }

  /** Names with a context kept now. */
  get size(): number {
    return this.entries.size;
  }

  private async ownContext(directory: ZimbraDirectory, name: string): Promise<SecureContext | undefined> {
    const entry = this.entries.get(name);
    if (entry && !entry.stale && (entry.context !== undefined || Date.now() - entry.at < UNKNOWN_NAME_TTL_MS)) {
      // Most recently used last: the first key is the one to drop.
      this.entries.delete(name);
      this.entries.set(name, entry);
      return entry.context;
    }
    let pending = this.loading.get(name);
    if (!pending) {
      pending = this.load(directory, name, entry).finally(() => this.loading.delete(name));
      this.loading.set(name, pending);
    }
    return pending;
  }

  private async load(directory: ZimbraDirectory, name: string, previous: Entry | undefined): Promise<SecureContext | undefined> {
    const generation = this.generation;
    let context: SecureContext | undefined;
    try {
      const domain = await directory.findDomainByVirtualHostname(name);
      const cert = domain ? attr(domain.attributes, 'zimbraSSLCertificate') : undefined;
      const key = domain ? attr(domain.attributes, 'zimbraSSLPrivateKey') : undefined;
      if (domain && cert && key) {
        try {
          context = createSecureContext({ cert, key });
        } catch (error) {
          this.logger.error(
            { serverName: name, domain: domain.name, err: error },
            previous?.context
              ? 'certificate refused: it does not load; the previous one stays'
              : 'certificate refused: it does not load; the default is served',
          );
          context = previous?.context;
        }
      }
    } catch (error) {
      this.logger.warn({ serverName: name, err: error }, 'directory unavailable for a certificate; serving what is kept');
      return previous?.context;
    }
    if (generation === this.generation) this.keep(name, { context, at: Date.now(), stale: false });
    return context;
  }

  private keep(name: string, entry: Entry): void {
    this.entries.delete(name);
    this.entries.set(name, entry);
    if (this.entries.size > MAX_CONTEXTS) this.entries.delete(this.entries.keys().next().value!);
  }
}
