/**
 * Routes a web proxy worker has just used, kept for a few seconds (`posternWebRouteMemo`): a
 * browser or a phone sends a burst of requests per page or sync, and each would otherwise cost a
 * memcached round trip. Keyed by everything the answer depends on, the client's address included
 * (a domain may allow only some addresses). Bounded: the oldest entry goes first. A moved mailbox
 * is seen once the entry expires.
 */

/** Entries kept at most. */
const MAX_ENTRIES = 50_000;

interface Memo {
  /** `host:port`, or undefined for "no such account" (the pool serves it). */
  readonly upstream: string | undefined;
  readonly until: number;
}

export class RouteMemo {
  private readonly entries = new Map<string, Memo>();

  constructor(
    private readonly ttlMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The memo of `key`: `{ upstream }` when fresh, undefined when there is none. */
  get(key: string): { upstream: string | undefined } | undefined {
    const memo = this.entries.get(key);
    if (memo === undefined) return undefined;
    if (memo.until > this.now()) return memo;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, upstream: string | undefined): void {
    const ttl = this.ttlMs();
    if (ttl <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { upstream, until: this.now() + ttl });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
