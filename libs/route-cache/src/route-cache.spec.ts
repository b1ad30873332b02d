import { describe, expect, it } from 'vitest';
import { CacheArgumentError, CacheUnavailableError, CacheValueError } from '@postern/memcached';
import { aliasKey, loginNameScopeOf, RouteCache, routeIdKey, routeKey, ROUTE_PROTOCOLS, type RouteCacheClient } from './route-cache';
import type { CachedRoute } from './route-value';

/** An in-memory stand-in for MemcachedClient that records TTLs and can be made to fail. */
class FakeClient implements RouteCacheClient {
  readonly store = new Map<string, { value: Buffer; ttl: number }>();
  failing = false;

  get(key: string): Promise<Buffer | null> {
    if (this.failing) return Promise.reject(new CacheUnavailableError('down'));
    return Promise.resolve(this.store.get(key)?.value ?? null);
  }
  set(key: string, value: Buffer | Uint8Array | string, ttl: number): Promise<void> {
    if (this.failing) return Promise.reject(new CacheUnavailableError('down'));
    this.store.set(key, { value: Buffer.from(value), ttl });
    return Promise.resolve();
  }
  delete(key: string): Promise<boolean> {
    if (this.failing) return Promise.reject(new CacheUnavailableError('down'));
    return Promise.resolve(this.store.delete(key));
  }
}

const route: CachedRoute = {
  host: '10.0.0.5',
  port: 7143,
  accountName: 'John@Example.com',
  accountId: 'B3F1C9A2-6A4E-4C1E-9F7A-0A1B2C3D4E5F',
  upstreamUser: 'john@example.com',
  external: false,
};

function setup(ttlSeconds = 3600) {
  const client = new FakeClient();
  const errors: { op: string; error: Error }[] = [];
  const cache = new RouteCache(client, { ttlSeconds, onError: (op, error) => errors.push({ op, error }) });
  return { client, errors, cache };
}

describe('key layout', () => {
  it('compares logins, names and ids case-insensitively', () => {
    expect(aliasKey('John@Example.COM')).toBe(aliasKey('john@example.com'));
    expect(aliasKey('JOHN', { proxyIp: '10.0.0.1' })).toBe(aliasKey('john', { proxyIp: '10.0.0.1' }));
    expect(routeKey('imap', 'John@Example.com')).toBe(routeKey('imap', 'john@example.com'));
    expect(routeIdKey('http', 'ABC-1')).toBe(routeIdKey('http', 'abc-1'));
  });

  it('keys a qualified login without its scope', () => {
    expect(aliasKey('john@example.com', { proxyIp: '10.0.0.1' })).toBe(aliasKey('john@example.com', { virtualHost: 'mail.example.com' }));
  });

  it('keeps unqualified logins on different virtual IPs or hosts apart', () => {
    const keys = new Set([
      aliasKey('john', { proxyIp: '10.0.0.1' }),
      aliasKey('john', { proxyIp: '10.0.0.2' }),
      aliasKey('john', { virtualHost: 'mail.a.com' }),
      aliasKey('john', { virtualHost: 'mail.b.com' }),
      aliasKey('john', { proxyIp: '10.0.0.1', virtualHost: 'mail.a.com' }),
      aliasKey('john@10.0.0.1'),
    ]);
    expect(keys.size).toBe(6);
  });

  it('treats the spellings of one scope as one', () => {
    expect(aliasKey('john', { proxyIp: '::ffff:10.0.0.1' })).toBe(aliasKey('john', { proxyIp: '10.0.0.1' }));
    expect(aliasKey('john', { proxyIp: '::ffff:a00:1' })).toBe(aliasKey('john', { proxyIp: '10.0.0.1' }));
    expect(aliasKey('john', { virtualHost: 'Mail.A.com.' })).toBe(aliasKey('john', { virtualHost: 'mail.a.com' }));
  });

  it('refuses to key an unqualified login without scope (it would collide across virtual IPs)', () => {
    expect(() => aliasKey('john', {})).toThrow(CacheArgumentError);
  });

  it('separates protocols and name/id spaces', () => {
    const keys = new Set(ROUTE_PROTOCOLS.flatMap((p) => [routeKey(p, 'x@y'), routeIdKey(p, 'x@y')]));
    expect(keys.size).toBe(ROUTE_PROTOCOLS.length * 2);
  });

  it('builds protocol-safe keys from hostile logins', () => {
    for (const login of ['a\r\nset x 0 0 1\r\n', 'a b', 'a\u0000b']) expect(() => aliasKey(login, { proxyIp: '1.1.1.1' })).toThrow(CacheArgumentError);
    expect(aliasKey(`${'é'.repeat(100)}@x`)).toMatch(/^postern:v1:alias:[0-9a-f]{64}$/);
  });
});

describe('RouteCache', () => {
  it('round-trips logins and routes, by name and by id, with the configured TTL', async () => {
    const { cache, client, errors } = setup(900);
    await cache.rememberLogin('JOHN', { proxyIp: '10.0.0.1' }, 'john@example.com');
    expect(await cache.accountForLogin('john', { proxyIp: '10.0.0.1' })).toBe('john@example.com');
    expect(await cache.accountForLogin('john', { proxyIp: '10.0.0.2' })).toBeNull();

    await cache.rememberRoute('imap', route);
    expect(await cache.route('imap', 'john@example.com')).toEqual(route);
    expect(await cache.routeById('imap', route.accountId.toLowerCase())).toEqual(route);
    expect(await cache.route('pop3', 'john@example.com')).toBeNull();
    expect([...client.store.values()].every((e) => e.ttl === 900)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('does not cache, nor report, a login that makes no key (unqualified without its scope)', async () => {
    const { cache, client, errors } = setup();
    await cache.rememberLogin('john', {}, 'john@example.com');
    await cache.rememberLogin('jo hn@example.com', {}, 'john@example.com');
    expect(client.store.size).toBe(0);
    expect(errors).toEqual([]);
  });

  it('keeps the domain allow-list with the route, so a cache hit is checked against it too', async () => {
    const { cache } = setup();
    await cache.rememberRoute('imap', { ...route, allowedIps: ['192.0.2.0/24'] });
    expect((await cache.route('imap', route.accountName))?.allowedIps).toEqual(['192.0.2.0/24']);
  });

  it('overwrites a cached route (set, not add)', async () => {
    const { cache } = setup();
    await cache.rememberRoute('imap', route);
    await cache.rememberRoute('imap', { ...route, host: '10.0.0.6' });
    expect((await cache.route('imap', route.accountName))?.host).toBe('10.0.0.6');
  });

  it('treats a poisoned entry as a miss, deletes it and reports it', async () => {
    const { cache, client, errors } = setup();
    const key = routeKey('imap', 'john@example.com');
    await client.set(key, JSON.stringify({ ...route, host: 'evil.example.net\r\n' }), 0);
    expect(await cache.route('imap', 'john@example.com')).toBeNull();
    expect(client.store.has(key)).toBe(false);
    expect(errors.map((e) => [e.op, e.error.constructor])).toEqual([['route', CacheValueError]]);
  });

  it('treats a valid route of another account as a miss and deletes it', async () => {
    const { cache, client, errors } = setup();
    await client.set(routeKey('imap', 'john@example.com'), JSON.stringify({ ...route, accountName: 'mallory@example.com' }), 0);
    await client.set(routeIdKey('imap', 'id-1'), JSON.stringify(route), 0);
    expect(await cache.route('imap', 'john@example.com')).toBeNull();
    expect(await cache.routeById('imap', 'id-1')).toBeNull();
    expect(client.store.size).toBe(0);
    expect(errors).toHaveLength(2);
  });

  it('refuses to write an invalid route', async () => {
    const { cache, client, errors } = setup();
    await cache.rememberRoute('imap', { ...route, port: 0 });
    await cache.rememberRoute('smtp' as 'imap', route);
    expect(client.store.size).toBe(0);
    expect(errors.map((e) => (e.error as CacheArgumentError).code)).toEqual(['CACHE_ARGUMENT', 'CACHE_ARGUMENT']);
  });

  it('never throws when the cache is down: reads miss, writes are dropped, all reported', async () => {
    const { cache, client, errors } = setup();
    client.failing = true;
    await expect(cache.accountForLogin('john@example.com', {})).resolves.toBeNull();
    await expect(cache.rememberLogin('john@example.com', {}, 'john@example.com')).resolves.toBeUndefined();
    await expect(cache.route('imap', 'john@example.com')).resolves.toBeNull();
    await expect(cache.routeById('imap', 'x')).resolves.toBeNull();
    await expect(cache.rememberRoute('imap', route)).resolves.toBeUndefined();
    await expect(cache.invalidate({ accountName: 'john@example.com' })).resolves.toBe(0);
    expect(errors.every((e) => e.error instanceof CacheUnavailableError)).toBe(true);
    expect(new Set(errors.map((e) => e.op))).toEqual(new Set(['accountForLogin', 'rememberLogin', 'route', 'routeById', 'rememberRoute', 'invalidate']));
  });

  it('reads a login that makes no key as a quiet miss: client input is no cache failure', async () => {
    const { cache, client, errors } = setup();
    client.failing = true;
    for (const login of ['a b', 'a\r\nset x 0 0 1', 'john']) await expect(cache.accountForLogin(login, {})).resolves.toBeNull();
    expect(errors).toEqual([]);
  });

  it('survives an onError observer that throws', async () => {
    const client = new FakeClient();
    client.failing = true;
    const cache = new RouteCache(client, {
      onError: () => {
        throw new Error('observer bug');
      },
    });
    await expect(cache.route('imap', 'john@example.com')).resolves.toBeNull();
  });

  it('invalidates every protocol by name and id and the given logins, counting deletions', async () => {
    const { cache, client } = setup();
    for (const protocol of ROUTE_PROTOCOLS) await cache.rememberRoute(protocol, route);
    await cache.rememberLogin('John@Example.com', {}, route.accountName);
    await cache.rememberLogin('jd@example.com', {}, route.accountName);
    await cache.rememberLogin('john', { proxyIp: '10.0.0.1' }, route.accountName);
    await client.set(routeKey('imap', 'other@example.com'), 'keep', 0);

    const deleted = await cache.invalidate({
      accountName: 'JOHN@example.com',
      accountId: route.accountId,
      logins: ['john@example.com', 'jd@example.com', 'never-cached@example.com', { login: 'john', scope: { proxyIp: '10.0.0.1' } }],
    });
    expect(deleted).toBe(ROUTE_PROTOCOLS.length * 2 + 3);
    expect([...client.store.keys()]).toEqual([routeKey('imap', 'other@example.com')]);
  });

  it('rejects an invalid TTL at construction', () => {
    expect(() => new RouteCache(new FakeClient(), { ttlSeconds: -1 })).toThrow(CacheArgumentError);
  });
});

describe('loginNameScopeOf', () => {
  it('is the virtual host for the web and the proxy address for mail, the other left out', () => {
    expect(loginNameScopeOf({ protocol: 'httpssl', virtualHost: 'Mail.Example.COM', proxyIp: '192.0.2.10' })).toEqual({ virtualHost: 'mail.example.com' });
    expect(loginNameScopeOf({ protocol: 'imap', virtualHost: 'mail.example.com', proxyIp: '192.0.2.10' })).toEqual({ proxyIp: '192.0.2.10' });
    expect(loginNameScopeOf({ protocol: 'pop3ssl' })).toEqual({});
    expect(aliasKey('john', loginNameScopeOf({ protocol: 'http', virtualHost: 'a.example.com' }))).not.toBe(
      aliasKey('john', loginNameScopeOf({ protocol: 'http', virtualHost: 'b.example.com' })),
    );
  });
});
