/**
 * Mailbox server names resolved once and kept for a bounded time, as nginx's `resolver … valid=`
 * does: a `dns.lookup` per login is a round trip through libuv's thread pool, and a mail tier logs
 * in to the same few servers all day. Addresses are used as they are; lookups of one name under
 * way at once are shared; a failed lookup is not kept (the next login asks again).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** How long a resolved address is used before the name is looked up again. */
export const HOST_ADDRESS_TTL_MS = 60_000;

export type LookupFn = (host: string) => Promise<string>;

const systemLookup: LookupFn = async (host) => (await lookup(host)).address;

export class HostResolver {
  private readonly known = new Map<string, { address: string; until: number }>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly ttlMs = HOST_ADDRESS_TTL_MS,
    private readonly lookupHost: LookupFn = systemLookup,
    private readonly now: () => number = Date.now,
  ) {}

  /** The address to connect to for `host`: itself when it is an address, else a kept or fresh lookup. */
  resolve(host: string): Promise<string> | string {
    if (isIP(host) !== 0) return host;
    const kept = this.known.get(host);
    if (kept && kept.until > this.now()) return kept.address;
    let running = this.pending.get(host);
    if (!running) {
      running = this.lookupHost(host).then(
        (address) => {
          this.pending.delete(host);
          this.known.set(host, { address, until: this.now() + this.ttlMs });
          return address;
        },
        (error: unknown) => {
          this.pending.delete(host);
          throw error;
        },
      );
      this.pending.set(host, running);
    }
    return running;
  }
}
