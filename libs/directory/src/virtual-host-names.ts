/**
 * `zimbraReverseProxyStrictServerNameEnabled`: a request whose Host names neither this proxy
 * (its `zimbraServiceHostname`, POSTERN_SERVER_NAME) nor a domain's `zimbraVirtualHostname` is
 * answered 400, as Zimbra's catch-all server block does. Answers are kept a minute per name
 * (bounded; cleared on SIGHUP), so a request costs a directory search only for a name not seen
 * lately. A directory that cannot be read lets the request through: strictness is a filter, not
 * a dependency.
 */
import type { ZimbraDirectory } from './zimbra-directory';

/** What these caches log (a pino logger is one). */
export interface DirectoryLog {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const KEEP_MS = 60_000;
const MAX_NAMES = 10_000;

export class VirtualHostNames {
  private readonly known = new Map<string, { known: boolean; until: number }>();

  constructor(
    private readonly directory: ZimbraDirectory | undefined,
    private readonly ownNames: readonly string[],
    private readonly logger: DirectoryLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when `host` (lower case, no port) is a name this proxy serves. */
  async isKnown(host: string): Promise<boolean> {
    if (this.ownNames.includes(host)) return true;
    const kept = this.known.get(host);
    if (kept && kept.until > this.now()) return kept.known;
    if (!this.directory) return false;
    let known: boolean;
    try {
      known = (await this.directory.findDomainByVirtualHostname(host)) !== null;
    } catch (error) {
      this.logger.warn({ host, err: error }, 'directory unavailable for a Host check; letting the request through');
      return true;
    }
    this.known.delete(host);
    this.known.set(host, { known, until: this.now() + KEEP_MS });
    if (this.known.size > MAX_NAMES) this.known.delete(this.known.keys().next().value!);
    return known;
  }

  /** Forgets every kept answer (SIGHUP, a config event). */
  refresh(): void {
    this.known.clear();
  }
}
