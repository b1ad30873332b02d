/**
 * Remembers domain and server entries for a short while (Zimbra's lookup servlet does the same
 * for 15 minutes). They change rarely and every lookup needs them; accounts are never memoised
 * here (the shared route cache is their cache).
 *
 * When the directory is down, a remembered entry is served even past its lifetime: routes that
 * are already cached keep working, and nothing is invented for entries never seen.
 */
import { DirectoryUnavailableError, type Account, type Domain, type Server } from '@postern/directory';
import type { DirectoryPort } from './ports';

interface Remembered<T> {
  value: T;
  fetchedAt: number;
}

/** Upper bound on remembered entries per kind: one per domain, VIP, virtual host or server. */
const MAX_ENTRIES = 10_000;

export class DirectoryMemo implements DirectoryPort {
  private readonly entries = new Map<string, Remembered<unknown>>();

  constructor(
    private readonly directory: DirectoryPort,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  findAccount(nameOrId: string): Promise<Account | null> {
    return this.directory.findAccount(nameOrId);
  }

  findAccountByForeignPrincipal(value: string): Promise<Account | null> {
    return this.directory.findAccountByForeignPrincipal(value);
  }

  findDomainByKerberosRealm(realm: string): Promise<Domain | null> {
    return this.remember(`krb5:${realm.toLowerCase()}`, () => this.directory.findDomainByKerberosRealm(realm));
  }
  findDomainByName(name: string): Promise<Domain | null> {
    return this.remember(`domain:${name.toLowerCase()}`, () => this.directory.findDomainByName(name));
  }
  findDomainById(id: string): Promise<Domain | null> {
    return this.remember(`domain-id:${id.toLowerCase()}`, () => this.directory.findDomainById(id));
  }
  findDomainByVirtualIp(ip: string): Promise<Domain | null> {
    return this.remember(`vip:${ip}`, () => this.directory.findDomainByVirtualIp(ip));
  }
  findDomainByVirtualHostname(host: string): Promise<Domain | null> {
    return this.remember(`vhost:${host.toLowerCase()}`, () => this.directory.findDomainByVirtualHostname(host));
  }
  findServer(serviceHostname: string): Promise<Server | null> {
    return this.remember(`server:${serviceHostname.toLowerCase()}`, () => this.directory.findServer(serviceHostname));
  }

  /** Forgets everything (after a config change). */
  clear(): void {
    this.entries.clear();
  }

  private async remember<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    const known = this.entries.get(key) as Remembered<T> | undefined;
    if (known && this.now() - known.fetchedAt < this.ttlMs) return known.value;
    try {
      const value = await fetch();
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, { value, fetchedAt: this.now() });
      return value;
    } catch (error) {
      if (known && error instanceof DirectoryUnavailableError) return known.value;
      throw error;
    }
  }
}
