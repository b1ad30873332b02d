/**
 * Ketama consistent hashing (libketama, the layout used by libmemcached and spymemcached).
 *
 * Each server contributes 160 points: for i in 0..39, md5(`${address}-${i}`) gives 16 bytes read as
 * four little-endian unsigned 32-bit points. A key's point is the first four bytes of md5(key),
 * little-endian; its server owns the first ring point at or after it (clockwise, wrapping).
 *
 * Why: the placement depends only on the server addresses, so every node configured with the same
 * servers (spelled identically, in any order) places every key identically, and going from N to N+1
 * servers moves only about 1/(N+1) of the keys (those now owned by the new server's points); modulo
 * sharding would move about N/(N+1) of them. When a server is skipped, its keys fall to the next
 * server clockwise and no other key moves.
 */
import { hash } from 'node:crypto';
import { KETAMA_DIGESTS_PER_SERVER, KETAMA_POINTS_PER_DIGEST } from './limits';

/** One-shot: every operation hashes its key, and a Hash object per key cost more than the digest. */
function md5(text: string): Buffer {
  return hash('md5', text, 'buffer');
}

/** The ring point of a key: the first four bytes of md5(key), little-endian. */
export function keyPoint(key: string): number {
  return md5(key).readUInt32LE(0);
}

/** An immutable ring over a list of server addresses. */
export class HashRing {
  private readonly points: Uint32Array;
  /** Index into {@link nodes} of the owner of each point. */
  private readonly owners: Uint32Array;

  constructor(readonly nodes: readonly string[]) {
    const entries: { point: number; node: number }[] = [];
    nodes.forEach((address, node) => {
      for (let i = 0; i < KETAMA_DIGESTS_PER_SERVER; i++) {
        const digest = md5(`${address}-${i}`);
        for (let h = 0; h < KETAMA_POINTS_PER_DIGEST; h++) entries.push({ point: digest.readUInt32LE(h * 4), node });
      }
    });
    // Ties (two servers hashing to the same point) are broken by address, not list position, so
    // the ring does not depend on the order in which a node lists its servers.
    entries.sort((a, b) => a.point - b.point || compare(nodes[a.node] ?? '', nodes[b.node] ?? ''));
    this.points = Uint32Array.from(entries, (e) => e.point);
    this.owners = Uint32Array.from(entries, (e) => e.node);
  }

  /**
   * The index of the server owning `key`, skipping servers for which `usable` is false (walking
   * clockwise); null when no server is usable.
   */
  owner(key: string, usable: (node: number) => boolean = () => true): number | null {
    const count = this.points.length;
    if (count === 0) return null;
    // One server owns every point: the key's hash could not change the answer.
    if (this.nodes.length === 1) return usable(0) ? 0 : null;
    const start = this.firstAtOrAfter(keyPoint(key));
    for (let step = 0; step < count; step++) {
      const node = this.owners[(start + step) % count];
      if (node !== undefined && usable(node)) return node;
    }
    return null;
  }

  private firstAtOrAfter(point: number): number {
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.points[mid] ?? 0) < point) low = mid + 1;
      else high = mid;
    }
    // Past the last point: wrap to the first.
    return low === this.points.length ? 0 : low;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
