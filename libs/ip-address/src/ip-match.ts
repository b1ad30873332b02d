/** Reading client addresses: IPv4-mapped IPv6 unwrapped, lists and CIDR blocks matched, subscribers' /64s. */
import { BlockList, isIP } from 'node:net';

/** A compiled list of addresses and CIDR blocks; build once, test many times. */
export class IpMatcher {
  private readonly list = new BlockList();
  readonly size: number;

  /** Throws naming the entry that is neither an address nor a CIDR block. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, prefix, extra] = entry.trim().split('/');
      const family = address ? isIP(address) : 0;
      if (family === 0 || extra !== undefined) throw new Error(`not an IP address or CIDR block: ${JSON.stringify(entry)}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.list.addAddress(address!, type);
        continue;
      }
      const bits = Number(prefix);
      if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new Error(`bad prefix length in ${JSON.stringify(entry)}`);
      this.list.addSubnet(address!, bits, type);
    }
    this.size = entries.length;
  }

  /** True when `ip` is in the list. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, `::ffff:c000:201`) match IPv4 entries. */
  matches(ip: string): boolean {
    // Most lists (trusted balancers, throttle whitelists) are empty: no parse per connection.
    if (this.size === 0) return false;
    const address = unmapIpv4(ip);
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

const MAPPED_PREFIX = '(?:::|(?:0{1,4}:){5}|::(?:0{1,4}:){0,4})ffff:';
const MAPPED_DOTTED = new RegExp(`^${MAPPED_PREFIX}(\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3})$`, 'i');
const MAPPED_HEX = new RegExp(`^${MAPPED_PREFIX}([0-9a-f]{1,4}):([0-9a-f]{1,4})$`, 'i');

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2), in dotted or hex
 * form; any other address unchanged. Dual-stack sockets report IPv4 clients as `::ffff:a.b.c.d`,
 * and a client-supplied address may use the hex form: both must count as the IPv4 address.
 */
export function unmapIpv4(ip: string): string {
  // A plain IPv4 address (every connection on an IPv4 listener) has no colon: no regex to run.
  if (!ip.includes(':')) return ip;
  const dotted = MAPPED_DOTTED.exec(ip);
  if (dotted) return dotted[1]!;
  const hex = MAPPED_HEX.exec(ip);
  if (!hex) return ip;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

const compiled = new Map<string, IpMatcher | null>();
/** Upper bound on remembered lists: one per distinct allowed-IP list (a domain each). */
const MAX_COMPILED_LISTS = 1000;

/**
 * True when `allowed` is empty (no restriction) or holds `ip`. Lists are compiled once and
 * remembered. A list with a malformed entry allows nothing: a typo must not open the door.
 */
export function isIpAllowed(ip: string, allowed: readonly string[] | undefined): boolean {
  if (!allowed || allowed.length === 0) return true;
  const key = allowed.join(',');
  let matcher = compiled.get(key);
  if (matcher === undefined) {
    try {
      matcher = new IpMatcher(allowed);
    } catch {
      matcher = null;
    }
    if (compiled.size >= MAX_COMPILED_LISTS) compiled.clear();
    compiled.set(key, matcher);
  }
  return matcher !== null && matcher.matches(ip);
}

/**
 * IPv6 clients are counted per /64: one subscriber's allocation. Counting single addresses would
 * let one host rotate through 2^64 of them.
 */
const IPV6_SUBSCRIBER_GROUPS = 4;

/**
 * The form of a client address that per-client counters are keyed by: IPv4 as is (an IPv4-mapped
 * IPv6 address in either spelling is that IPv4 client), IPv6 as its /64.
 */
export function subscriberAddress(ip: string): string {
  const address = unmapIpv4(ip);
  if (isIP(address) !== 6) return address;
  return `${ipv6Groups(address)
    .slice(0, IPV6_SUBSCRIBER_GROUPS)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/**
 * The bytes of an address in network order: 4 for IPv4 (an IPv4-mapped IPv6 address in either
 * spelling is that IPv4 address), 16 for IPv6; none for text that is not an address. Hashes that
 * spread clients over servers read these, so one client hashes alike however its address is written.
 */
export function addressBytes(ip: string): number[] {
  const address = unmapIpv4(ip);
  const family = isIP(address);
  if (family === 4) return address.split('.').map(Number);
  if (family === 6) return ipv6Groups(address).flatMap((g) => [g >> 8, g & 0xff]);
  return [];
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad as two groups). */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16));
}
