/**
 * Routes a web proxy worker has just used, kept for a few seconds (`posternWebRouteMemo`): a
 * browser or a phone sends a burst of requests per page or sync, and each would otherwise cost a
 * memcached round trip. Keyed by everything the answer depends on, the client's address included
 * (a domain may allow only some addresses). Bounded: the oldest entry goes first. A moved mailbox
 * is seen at once: the config-watcher's invalidation drops it, as does its server refusing the connection.
 */

/** Entries kept at most. */
const MAX_ENTRIES = 50_000;

interface Memo<T> {
  /** The route, or undefined for "no such account" (the pool serves it). */
  readonly route: T | undefined;
  readonly until: number;
}

export class RouteMemo<T> {
  private readonly entries = new Map<string, Memo<T>>();

  constructor(
    private readonly ttlMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The memo of `key`: `{ route }` when fresh, undefined when there is none. */
  get(key: string): { route: T | undefined } | undefined {
    const memo = this.entries.get(key);
    if (memo === undefined) return undefined;
    if (memo.until > this.now()) return memo;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, route: T | undefined): void {
    const ttl = this.ttlMs();
    if (ttl <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { route, until: this.now() + ttl });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets `key` (its route turned out stale). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every entry whose route `matches` (an account's routes changed); returns how many. */
  deleteWhere(matches: (route: T) => boolean): number {
    let deleted = 0;
    for (const [key, memo] of this.entries) {
      if (memo.route !== undefined && matches(memo.route)) {
        this.entries.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  get size(): number {
    return this.entries.size;
  }
}
