import { describe, expect, it } from 'vitest';
import { HashRing, keyPoint } from './hash-ring';

const keys = Array.from({ length: 10_000 }, (_, i) => `postern:v1:route:${i}`);

function placement(ring: HashRing): string[] {
  return keys.map((key) => ring.nodes[ring.owner(key) ?? -1] ?? 'none');
}

describe('HashRing (ketama)', () => {
  it('hashes a key to the first four bytes of its md5, little-endian', () => {
    // md5("foo") = acbd18db…: bytes ac bd 18 db read little-endian.
    expect(keyPoint('foo')).toBe(0xdb18bdac);
  });

  it('places keys as an independent ketama implementation does (Python hashlib golden values)', () => {
    const ring = new HashRing(['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211']);
    const owners = ['foo', 'postern:v1:route:abc', 'user-1', 'user-2', 'user-3', 'user-4'].map((k) => ring.nodes[ring.owner(k) ?? -1]);
    expect(owners).toEqual(['10.0.0.3:11211', '10.0.0.2:11211', '10.0.0.2:11211', '10.0.0.3:11211', '10.0.0.1:11211', '10.0.0.3:11211']);
  });

  it('places keys identically whatever the order of the server list', () => {
    const a = new HashRing(['s1:11211', 's2:11211', 's3:11211']);
    const b = new HashRing(['s3:11211', 's1:11211', 's2:11211']);
    expect(placement(a)).toEqual(placement(b));
  });

  it('spreads keys over the servers', () => {
    const counts = new Map<string, number>();
    for (const owner of placement(new HashRing(['s1:11211', 's2:11211', 's3:11211']))) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    expect(counts.size).toBe(3);
    // 160 points per server keep each share within about ±10 points of a third.
    for (const count of counts.values()) expect(count / keys.length).toBeGreaterThan(0.2);
  });

  it('moves about 1/(N+1) of the keys from 2 to 3 servers, all of them to the new server', () => {
    const before = placement(new HashRing(['s1:11211', 's2:11211']));
    const after = placement(new HashRing(['s1:11211', 's2:11211', 's3:11211']));
    const moved = before.map((owner, i) => (owner === after[i] ? null : after[i])).filter((o) => o !== null);
    const fraction = moved.length / keys.length;
    expect(fraction).toBeGreaterThan(0.2);
    expect(fraction).toBeLessThan(0.45);
    expect(new Set(moved)).toEqual(new Set(['s3:11211']));
  });

  it('sends a skipped server’s keys clockwise to the others and moves no other key', () => {
    const ring = new HashRing(['s1:11211', 's2:11211', 's3:11211']);
    const all = placement(ring);
    const withoutS2 = keys.map((key) => ring.nodes[ring.owner(key, (node) => ring.nodes[node] !== 's2:11211') ?? -1]);
    all.forEach((owner, i) => {
      if (owner === 's2:11211') expect(withoutS2[i]).not.toBe('s2:11211');
      else expect(withoutS2[i]).toBe(owner);
    });
  });

  it('returns null when no server is usable, and for an empty ring', () => {
    expect(new HashRing(['s1:1']).owner('k', () => false)).toBeNull();
    expect(new HashRing([]).owner('k')).toBeNull();
  });
});
