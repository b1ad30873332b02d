import { describe, expect, it } from 'vitest';
import { HostResolver } from './host-resolver';

describe('HostResolver', () => {
  it('looks a name up once per TTL, shares lookups under way, and passes addresses through', async () => {
    let now = 0;
    const asked: string[] = [];
    const resolver = new HostResolver(
      1000,
      async (host) => {
        asked.push(host);
        return `192.0.2.${asked.length}`;
      },
      () => now,
    );
    expect(resolver.resolve('10.0.0.1')).toBe('10.0.0.1');
    expect(resolver.resolve('::1')).toBe('::1');
    const [a, b] = await Promise.all([resolver.resolve('mbox1.example.com'), resolver.resolve('mbox1.example.com')]);
    expect([a, b]).toEqual(['192.0.2.1', '192.0.2.1']);
    expect(resolver.resolve('mbox1.example.com')).toBe('192.0.2.1');
    now = 999;
    expect(resolver.resolve('mbox1.example.com')).toBe('192.0.2.1');
    now = 1000;
    expect(await resolver.resolve('mbox1.example.com')).toBe('192.0.2.2');
    expect(asked).toEqual(['mbox1.example.com', 'mbox1.example.com']);
  });

  it('keeps no failure: the next login asks again', async () => {
    let fail = true;
    const resolver = new HostResolver(1000, async () => {
      if (fail) throw new Error('ENOTFOUND');
      return '192.0.2.9';
    });
    await expect(resolver.resolve('gone.example.com')).rejects.toThrow('ENOTFOUND');
    fail = false;
    expect(await resolver.resolve('gone.example.com')).toBe('192.0.2.9');
  });
});
