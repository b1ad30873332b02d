/**
 * The cache library against real memcached servers on ephemeral ports: protocol round trips,
 * ketama placement, dead-server skipping, bounded timeouts, recovery, and RouteCache on top.
 */
import {
  CacheArgumentError,
  CacheKeyError,
  CacheProtocolError,
  CacheUnavailableError,
  CacheValueError,
  cacheKey,
  MemcachedClient,
  type CacheEvent,
  type MemcachedClientOptions,
} from '@postern/memcached';
import { RouteCache, routeIdKey, routeKey, ROUTE_PROTOCOLS, type CachedRoute } from '@postern/route-cache';
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startMemcached, stopAll, waitFor, type MemcachedServer } from '../harness';

/** Scheduling slack on a busy CI machine on top of a deadline; far below any hang. */
const SLACK_MS = 1_000;

const clients: MemcachedClient[] = [];
function newClient(options: MemcachedClientOptions): MemcachedClient {
  const client = new MemcachedClient(options);
  clients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await stopAll();
});

/** Runs an operation, measuring how long it took and catching its error. */
async function timed<T>(op: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const value = await op();
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}

/** A read that counts an unavailable cache as a miss, as every caller of the cache does. */
async function getOrMiss(client: MemcachedClient, key: string): Promise<string | null> {
  try {
    return (await client.get(key))?.toString() ?? null;
  } catch (error) {
    if (error instanceof CacheUnavailableError) return null;
    throw error;
  }
}

/** True once every thread of `pid` is in the stopped state (Linux /proc). */
async function allThreadsStopped(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`);
  const states = await Promise.all(tasks.map(async (task) => (await readFile(`/proc/${pid}/task/${task}/stat`, 'utf8')).split(' ')[2]));
  return states.every((state) => state === 'T');
}

const keys = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => cacheKey('test', [prefix, i]));

describe('one server', () => {
  let server: MemcachedServer;
  let client: MemcachedClient;

  const setup = async () => {
    server ??= await startMemcached();
    client = newClient({ servers: [server.address], timeoutMs: 2_000 });
  };

  it('round-trips set, get and delete with binary values', async () => {
    await setup();
    const value = Buffer.from('a\r\nEND\r\nVALUE x 0 1\r\n\u0000\u00ff', 'latin1');
    await client.set('it:bin', value, 60);
    expect(await client.get('it:bin')).toEqual(value);
    await client.set('it:bin', '', 60);
    expect(await client.get('it:bin')).toEqual(Buffer.alloc(0));
    expect(await client.delete('it:bin')).toBe(true);
    expect(await client.delete('it:bin')).toBe(false);
    expect(await client.get('it:bin')).toBeNull();
  });

  it('add stores only once', async () => {
    await setup();
    expect(await client.add('it:add', 'first', 60)).toBe(true);
    expect(await client.add('it:add', 'second', 60)).toBe(false);
    expect((await client.get('it:add'))?.toString()).toBe('first');
  });

  it('incr counts, answers null for a missing key and refuses a non-numeric value', async () => {
    await setup();
    expect(await client.incr('it:counter', 1)).toBeNull();
    expect(await client.add('it:counter', '1', 60)).toBe(true);
    expect(await client.incr('it:counter', 1)).toBe(2);
    expect(await client.incr('it:counter', 40)).toBe(42);
    await client.set('it:text', 'abc', 60);
    await expect(client.incr('it:text', 1)).rejects.toBeInstanceOf(CacheProtocolError);
    // A CLIENT_ERROR reply does not break the pipeline.
    expect(await client.incr('it:counter', 0)).toBe(42);
  });

  it('gets and cas detect concurrent writes', async () => {
    await setup();
    expect(await client.gets('it:cas')).toBeNull();
    expect(await client.cas('it:cas', 'x', 60, '1')).toBe('not_found');
    await client.set('it:cas', 'v1', 60);
    const first = await client.gets('it:cas');
    expect(first?.value.toString()).toBe('v1');
    expect(first?.cas).toMatch(/^[0-9]+$/);
    expect(await client.cas('it:cas', 'v2', 60, first?.cas ?? '')).toBe('stored');
    expect(await client.cas('it:cas', 'v3', 60, first?.cas ?? '')).toBe('exists');
    expect((await client.get('it:cas'))?.toString()).toBe('v2');
  });

  it('expires a 1 s TTL, and keeps a TTL over 30 days (sent as absolute time)', async () => {
    await setup();
    const fortyDays = 40 * 24 * 3600;
    await client.set('it:long', 'kept', fortyDays);
    await client.set('it:short', 'gone soon', 1);
    expect((await client.get('it:short'))?.toString()).toBe('gone soon');
    // memcached expires lazily on its one-second clock: allow a few ticks.
    await waitFor('it:short to expire', async () => (await client.get('it:short')) === null, { timeoutMs: 5_000, intervalMs: 100 });
    expect((await client.get('it:long'))?.toString()).toBe('kept');
  });

  it('pipelines many concurrent commands, including large values split across reads, answered in order', async () => {
    await setup();
    const big = (i: number) => Buffer.alloc(200_000 + i, i % 256);
    const writes = Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? client.set(`it:p:${i}`, big(i), 60) : client.set(`it:p:${i}`, `v${i}`, 60)));
    await Promise.all(writes);
    const reads = await Promise.all(Array.from({ length: 300 }, (_, i) => client.get(`it:p:${i}`)));
    // Buffer#equals: a deep toEqual over 200 KB buffers would dominate the test's run time.
    reads.forEach((value, i) => expect(value?.equals(i % 50 === 0 ? big(i) : Buffer.from(`v${i}`))).toBe(true));
  });

  it('rejects invalid keys synchronously and values over 1 MiB before sending', async () => {
    await setup();
    for (const key of ['', 'a b', 'x\r\nflush_all', 'k'.repeat(251), 'é']) {
      expect(() => client.get(key)).toThrow(CacheKeyError);
      expect(() => client.set(key, 'v', 0)).toThrow(CacheKeyError);
    }
    expect(() => client.set('it:huge', Buffer.alloc(1024 * 1024 + 1), 0)).toThrow(CacheArgumentError);
  });

  it('maps SERVER_ERROR to CacheProtocolError and stays in step afterwards', async () => {
    await setup();
    // Exactly 1 MiB passes our cap but not memcached's (the item header counts against -I 1m).
    await expect(client.set('it:limit', Buffer.alloc(1024 * 1024), 60)).rejects.toMatchObject({ code: 'CACHE_PROTOCOL' });
    await client.set('it:after', 'ok', 60);
    expect((await client.get('it:after'))?.toString()).toBe('ok');
  });
});

describe('three servers', () => {
  it('places each key on serverFor(key), as a direct connection to that server confirms', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const ring = newClient({ servers: servers.map((s) => s.address) });
    const direct = new Map(servers.map((s) => [s.address, newClient({ servers: [s.address] })]));
    const used = new Set<string>();
    for (const key of keys('placement', 60)) {
      await ring.set(key, key, 60);
      const owner = ring.serverFor(key);
      used.add(owner);
      for (const [address, client] of direct) expect((await client.get(key))?.toString() ?? null).toBe(address === owner ? key : null);
    }
    expect(used.size).toBe(3);
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('getMany reads keys spread over every server in one call, each from its owner, in the order asked', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const ring = newClient({ servers: servers.map((s) => s.address) });
    const all = keys('many', 60);
    const stored = all.filter((_, i) => i % 3 !== 0);
    for (const key of stored) await ring.set(key, `value of ${key}`, 60);
    expect(new Set(all.map((key) => ring.serverFor(key))).size).toBe(3);

    const values = await ring.getMany(all);

    expect(values.map((v) => v?.toString() ?? null)).toEqual(all.map((key, i) => (i % 3 !== 0 ? `value of ${key}` : null)));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('agrees with every other client configured with the same servers in another order', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const a = newClient({ servers: servers.map((s) => s.address) });
    const b = newClient({ servers: servers.map((s) => s.address).reverse() });
    for (const key of keys('agree', 200)) expect(b.serverFor(key)).toBe(a.serverFor(key));
    for (const key of keys('agree', 20)) {
      await a.set(key, 'from a', 60);
      expect((await b.get(key))?.toString()).toBe('from a');
    }
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('turns a stopped server’s keys into misses within timeoutMs while the other keys still hit', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const [, victim] = servers;
    const events: CacheEvent[] = [];
    const timeoutMs = 500;
    const client = newClient({ servers: servers.map((s) => s.address), timeoutMs, onEvent: (e) => events.push(e) });
    const all = keys('stop', 90);
    for (const key of all) await client.set(key, key, 60);
    const lost = all.filter((k) => client.serverFor(k) === victim.address);
    const kept = all.filter((k) => client.serverFor(k) !== victim.address);
    expect(lost.length).toBeGreaterThan(0);

    await victim.stop();
    for (const key of lost) {
      const { ms, value } = await timed(() => getOrMiss(client, key));
      expect(value).toBeNull();
      expect(ms).toBeLessThan(timeoutMs + SLACK_MS);
    }
    for (const key of kept) expect(await getOrMiss(client, key)).toBe(key);

    expect(client.servers().find((s) => s.address === victim.address)?.state).toBe('down');
    expect(events.filter((e) => e.type === 'server-down').map((e) => e.server)).toEqual([victim.address]);
    // While it is dead its keys live on the next server clockwise.
    for (const key of lost) {
      expect(client.serverFor(key)).not.toBe(victim.address);
      await client.set(key, 'moved', 60);
      expect((await client.get(key))?.toString()).toBe('moved');
    }
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('fails every request to a hung server with CacheUnavailableError within timeoutMs, then skips it', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached()]);
    const [hung, healthy] = servers;
    // Long enough that skipping a dead server (no wait at all) is told apart from waiting for it on a loaded machine.
    const timeoutMs = 1_000;
    const client = newClient({ servers: servers.map((s) => s.address), timeoutMs, retryDeadServerMs: 60_000 });
    const all = keys('hang', 40);
    for (const key of all) await client.set(key, key, 60);
    const onHung = all.filter((k) => client.serverFor(k) === hung.address);
    const onHealthy = all.filter((k) => client.serverFor(k) === healthy.address);

    // SIGSTOP: the kernel still accepts and buffers, but nothing ever answers. Delivery is
    // asynchronous, so wait until the kernel reports the process stopped.
    hung.process.child.kill('SIGSTOP');
    try {
      await waitFor('memcached to stop', () => allThreadsStopped(hung.process.pid));
      const results = await Promise.all(onHung.map((key) => timed(() => client.get(key))));
      for (const { ms, error } of results) {
        expect(error).toBeInstanceOf(CacheUnavailableError);
        expect(error).toMatchObject({ code: 'CACHE_UNAVAILABLE' });
        expect((error as Error).cause).toBeInstanceOf(Error);
        expect(ms).toBeLessThan(timeoutMs + SLACK_MS);
      }
      expect(client.servers().find((s) => s.address === hung.address)).toMatchObject({ state: 'down', pending: 0 });
      for (const key of onHung) {
        const { ms, value } = await timed(() => client.get(key));
        expect(value).toBeNull();
        expect(ms).toBeLessThan(timeoutMs);
      }
      for (const key of onHealthy) expect((await client.get(key))?.toString()).toBe(key);
    } finally {
      hung.process.child.kill('SIGCONT');
    }
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('rejects at once when every server is down, and uses a restarted server again after retryDeadServerMs', async () => {
    const servers = await Promise.all([startMemcached(), startMemcached()]);
    const [first] = servers;
    const events: CacheEvent[] = [];
    // 500 ms: short enough to see the restart soon, long enough that the checks made right after
    // the outage is seen still fall inside the retry window on a loaded machine.
    const client = newClient({ servers: servers.map((s) => s.address), timeoutMs: 1_000, retryDeadServerMs: 500, onEvent: (e) => events.push(e) });
    const onFirst = keys('restart', 50).find((k) => client.serverFor(k) === first.address) ?? '';
    await client.set('it:any', 'x', 60);
    await Promise.all(servers.map((s) => s.stop()));

    // Operations discover the outage: a refused connect reroutes to the next server; a request
    // already written to a connection the server then closed fails. Either way, quickly.
    const probes: { ms: number; error?: unknown }[] = [];
    await waitFor('the client to see every server down', async () => {
      for (const key of keys('down', 10)) probes.push(await timed(() => client.get(key)));
      return client.servers().every((s) => s.state === 'down');
    });
    for (const { ms, error } of probes) {
      expect(error).toBeInstanceOf(CacheUnavailableError);
      expect(ms).toBeLessThan(1_000 + SLACK_MS);
    }
    const immediate = await timed(() => client.set('it:any', 'x', 60));
    expect(immediate.error).toBeInstanceOf(CacheUnavailableError);
    // No I/O is attempted while every server is inside its retry window.
    expect(immediate.ms).toBeLessThan(50);
    expect(() => client.serverFor('it:any')).toThrow(CacheUnavailableError);

    const restarted = await startMemcached({ port: first.port });
    await waitFor(
      'the restarted server to be used again',
      async () => {
        try {
          await client.set(onFirst, 'back', 60);
          return client.serverFor(onFirst) === restarted.address;
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const direct = newClient({ servers: [restarted.address] });
    expect((await direct.get(onFirst))?.toString()).toBe('back');
    expect(events.filter((e) => e.server === first.address).map((e) => e.type)).toEqual(['server-down', 'server-up']);
    await restarted.stop();
  });
});

describe('RouteCache on memcached', () => {
  const route: CachedRoute = {
    host: '10.0.0.5',
    port: 7143,
    accountName: 'john@example.com',
    accountId: 'b3f1c9a2-6a4e-4c1e-9f7a-0a1b2c3d4e5f',
    upstreamUser: 'john@example.com',
    external: false,
  };

  async function setup(ttlSeconds = 3600) {
    const servers = await Promise.all([startMemcached(), startMemcached()]);
    const client = newClient({ servers: servers.map((s) => s.address), timeoutMs: 1_000 });
    const errors: { op: string; error: Error }[] = [];
    const cache = new RouteCache(client, { ttlSeconds, onError: (op, error) => errors.push({ op, error }) });
    return { servers, client, errors, cache, stop: () => Promise.all(servers.map((s) => s.stop())) };
  }

  it('round-trips logins and routes, and invalidate removes every protocol', async () => {
    const { cache, errors, stop } = await setup();
    await cache.rememberLogin('John', { proxyIp: '192.0.2.10' }, route.accountName);
    await cache.rememberLogin('jd@example.com', {}, route.accountName);
    for (const protocol of ROUTE_PROTOCOLS) await cache.rememberRoute(protocol, { ...route, port: 7000 + ROUTE_PROTOCOLS.indexOf(protocol) });

    expect(await cache.accountForLogin('JOHN', { proxyIp: '192.0.2.10' })).toBe(route.accountName);
    expect(await cache.accountForLogin('john', { proxyIp: '192.0.2.11' })).toBeNull();
    expect(await cache.route('imapssl', 'John@Example.com')).toEqual({ ...route, port: 7001 });
    expect(await cache.routeById('httpssl', route.accountId)).toEqual({ ...route, port: 7005 });
    await cache.rememberRoute('pop3', { ...route, allowedIps: ['192.0.2.0/24'] });
    expect((await cache.route('pop3', route.accountName))?.allowedIps).toEqual(['192.0.2.0/24']);

    const deleted = await cache.invalidate({
      accountName: route.accountName,
      accountId: route.accountId,
      logins: ['jd@example.com', { login: 'john', scope: { proxyIp: '192.0.2.10' } }],
    });
    expect(deleted).toBe(ROUTE_PROTOCOLS.length * 2 + 2);
    for (const protocol of ROUTE_PROTOCOLS) {
      expect(await cache.route(protocol, route.accountName)).toBeNull();
      expect(await cache.routeById(protocol, route.accountId)).toBeNull();
    }
    expect(await cache.accountForLogin('jd@example.com', {})).toBeNull();
    expect(await cache.accountForLogin('john', { proxyIp: '192.0.2.10' })).toBeNull();
    expect(errors).toEqual([]);
    await stop();
  });

  it('treats a poisoned value written raw under the right key as a miss and deletes it', async () => {
    const { cache, client, errors, stop } = await setup();
    const byName = routeKey('imap', route.accountName);
    const byId = routeIdKey('imap', route.accountId);
    await client.set(byName, '10.6.6.6:143', 0);
    await client.set(byId, JSON.stringify({ ...route, host: 'evil.example.net', upstreamUser: 'john\r\nA1 LOGIN admin pw' }), 0);
    expect(await cache.route('imap', route.accountName)).toBeNull();
    expect(await cache.routeById('imap', route.accountId)).toBeNull();
    expect(await client.get(byName)).toBeNull();
    expect(await client.get(byId)).toBeNull();
    expect(errors.map((e) => (e.error as CacheValueError).code)).toEqual(['CACHE_INVALID_VALUE', 'CACHE_INVALID_VALUE']);
    await stop();
  });

  it('lets entries expire after the TTL', async () => {
    const { cache, stop } = await setup(1);
    await cache.rememberRoute('pop3', route);
    expect(await cache.route('pop3', route.accountName)).toEqual(route);
    await waitFor('the route to expire', async () => (await cache.route('pop3', route.accountName)) === null, { timeoutMs: 5_000, intervalMs: 100 });
    await stop();
  });

  it('answers misses, without throwing or waiting, when every server is down', async () => {
    const { cache, errors, stop } = await setup();
    await cache.rememberRoute('imap', route);
    await stop();
    for (let i = 0; i < 3; i++) {
      const { ms, value } = await timed(() => cache.route('imap', route.accountName));
      expect(value).toBeNull();
      expect(ms).toBeLessThan(1_000);
    }
    await expect(cache.rememberRoute('imap', route)).resolves.toBeUndefined();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.error instanceof CacheUnavailableError)).toBe(true);
  });
});
