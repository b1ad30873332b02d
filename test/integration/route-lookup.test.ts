/**
 * The route lookup service end to end: real nats-server, memcached and slapd with the fixture
 * directory, two route-lookup processes in one queue group, requests over NATS.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RouteLookupContract, type RouteLookupRequest, type RouteLookupResult } from '@postern/contracts';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import { requestReply } from '@postern/service-kit';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  stopAll,
  waitFor,
  type MemcachedServer,
  type NatsServer,
  type ServiceProcess,
  type SlapdServer,
} from '../harness';

let nats: NatsServer;
let memcached: MemcachedServer;
let slapd: SlapdServer;
let lookupA: ServiceProcess;
let lookupB: ServiceProcess;
let nc: NatsConnection;
let dir: string;

const base = { by: 'name', protocol: 'imap', clientIp: '192.0.2.50' } as const;

function lookup(request: Partial<RouteLookupRequest> & { user: string }, timeoutMs = 5000): Promise<RouteLookupResult> {
  return requestReply(nc, RouteLookupContract, { ...base, ...request }, timeoutMs);
}

async function route(request: Partial<RouteLookupRequest> & { user: string }) {
  const result = await lookup(request);
  if (result.outcome !== 'ROUTE') throw new Error(`expected a route for ${request.user}, got ${JSON.stringify(result)}`);
  return result;
}

beforeAll(async () => {
  [nats, memcached, slapd] = await Promise.all([startNats(), startMemcached(), startSlapd()]);
  dir = await scratchDir('route-lookup');
  const configFile = join(dir, 'postern.json');
  // The lookup timeout is shortened so the outage tests finish quickly; everything else is the fixture's.
  writeFileSync(configFile, JSON.stringify({ attributes: { zimbraReverseProxyRouteLookupTimeout: '3s' } }));
  const env = {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    ...directoryEnv(slapd),
    POSTERN_LDAP_CONNECT_TIMEOUT_MS: '1000',
    POSTERN_SERVER_NAME: '127.0.0.1',
    POSTERN_CONFIG_FILE: configFile,
  };
  [lookupA, lookupB] = await Promise.all([startService('route-lookup', env), startService('route-lookup', env)]);
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.close();
  await stopAll();
  if (dir) await removeDir(dir);
});

describe('route lookup over NATS', () => {
  it('finds a user by address, on their own server, with the port of the protocol', async () => {
    const imap = await route({ user: 'alice@example.com' });
    expect(imap.route).toMatchObject({ host: '127.0.0.2', port: 7143, accountName: 'alice@example.com', upstreamUser: 'alice@example.com', external: false });
    expect((await route({ user: 'alice@example.com', protocol: 'imapssl' })).route.port).toBe(7993);
    expect((await route({ user: 'alice@example.com', protocol: 'pop3' })).route.port).toBe(7110);
    expect((await route({ user: 'bob@example.com' })).route).toMatchObject({ host: '127.0.0.3', port: 7143 });
  });

  it('falls back to the global port when the server has none for the protocol', async () => {
    expect((await route({ user: 'bob@example.com', protocol: 'pop3ssl' })).route).toMatchObject({ host: '127.0.0.3', port: 7995 });
  });

  it('resolves aliases and alias domains to the account', async () => {
    expect((await route({ user: 'alice.smith@example.com' })).route.accountName).toBe('alice@example.com');
    expect((await route({ user: 'AL@Example.com' })).route.accountName).toBe('alice@example.com');
    expect((await route({ user: 'alice@example.net' })).route.accountName).toBe('alice@example.com');
  });

  it('qualifies unqualified logins by virtual IP, by virtual host, else the default domain', async () => {
    expect((await route({ user: 'carol', proxyIp: '127.0.0.11', clientIp: '127.0.0.1' })).route.accountName).toBe('carol@example.org');
    expect((await route({ user: 'bob', proxyIp: '127.0.0.99' })).route.accountName).toBe('bob@example.com');
    const web = await route({ user: 'alice', protocol: 'http', virtualHost: 'webmail.example.com' });
    expect(web.route).toMatchObject({ accountName: 'alice@example.com', port: 8080 });
    expect((await route({ user: 'alice', protocol: 'httpssl', virtualHost: 'mail.example.com' })).route.port).toBe(8443);
  });

  it('resolves by account id', async () => {
    const byName = await route({ user: 'bob@example.com', protocol: 'http' });
    const byId = await route({ by: 'id', user: byName.route.accountId, protocol: 'http' });
    expect(byId.route).toMatchObject({ accountName: 'bob@example.com', host: '127.0.0.3', port: 8080 });
  });

  it('uses external routes: the account first, then the domain, with fallback per protocol', async () => {
    expect((await route({ user: 'erin@example.com' })).route).toMatchObject({ host: 'imap.erin.test', port: 1143, external: true });
    expect((await route({ user: 'erin@example.com', protocol: 'imapssl' })).route).toMatchObject({ host: 'imap.erin.test', port: 1993 });
    // No POP3 external attributes on the account: the domain has none either, so the internal route.
    expect((await route({ user: 'erin@example.com', protocol: 'pop3' })).route).toMatchObject({ host: '127.0.0.2', port: 7110, external: false });
    expect((await route({ user: 'henry@partner.test', protocol: 'pop3ssl' })).route).toMatchObject({ host: 'pop.partner.test', port: 995, external: true });
    // A user the directory does not know, in a domain that routes unknown users outside.
    expect((await route({ user: 'stranger@partner.test' })).route).toMatchObject({ host: 'imap.partner.test', port: 143, external: true });
  });

  it('refuses closed and locked accounts, and clients outside the domain allowed IPs', async () => {
    expect(await lookup({ user: 'frank@example.com' })).toEqual({ outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs: 2000 });
    expect(await lookup({ user: 'grace@example.com' })).toMatchObject({ outcome: 'NOT_ALLOWED', reason: 'account-status' });
    expect(await lookup({ user: 'carol@example.org', clientIp: '198.51.100.7' })).toMatchObject({ outcome: 'NOT_ALLOWED', reason: 'client-ip' });
    expect((await route({ user: 'carol@example.org', clientIp: '192.0.2.200' })).route.host).toBe('127.0.0.3');
  });

  it("answers NOT_FOUND with the server's auth-wait (2s for proxy1, over the global 10s)", async () => {
    expect(await lookup({ user: 'nobody@example.com' })).toEqual({ outcome: 'NOT_FOUND', waitMs: 2000 });
  });

  it('escapes LDAP filter metacharacters (no filter injection)', async () => {
    expect((await lookup({ user: '*)(zimbraMailDeliveryAddress=*' })).outcome).toBe('NOT_FOUND');
    expect((await lookup({ user: '*' })).outcome).toBe('NOT_FOUND');
    expect((await lookup({ user: 'alice@example.com)(objectClass=*' })).outcome).toBe('NOT_FOUND');
  });

  it('writes the shared cache and answers from it next time; the allowed IPs stay enforced', async () => {
    await route({ user: 'bob@example.com', protocol: 'imapssl' });
    const again = await route({ user: 'bob@example.com', protocol: 'imapssl' });
    expect(again.source).toBe('cache');
    const client = new MemcachedClient({ servers: [memcached.address] });
    try {
      const cached = await new RouteCache(client, { ttlSeconds: 60 }).route('imapssl', 'bob@example.com');
      expect(cached).toMatchObject({ host: '127.0.0.3', port: 7993, accountName: 'bob@example.com' });
    } finally {
      await client.close();
    }
    await route({ user: 'carol@example.org', clientIp: '192.0.2.9', protocol: 'pop3' });
    expect((await route({ user: 'carol@example.org', clientIp: '192.0.2.9', protocol: 'pop3' })).source).toBe('cache');
    expect(await lookup({ user: 'carol@example.org', clientIp: '203.0.113.1', protocol: 'pop3' })).toMatchObject({
      outcome: 'NOT_ALLOWED',
      reason: 'client-ip',
    });
  });

  it('answers a malformed request with BAD_REQUEST and a metric, and keeps serving', async () => {
    const before = (await lookupA.metric('postern_route_lookup_rejected_total')) + (await lookupB.metric('postern_route_lookup_rejected_total'));
    const bad = [
      { ...base, user: 'alice\r\n@example.com' },
      { ...base, user: 'x'.repeat(300) },
      { ...base, user: 'alice@example.com', protocol: 'smtp' },
      'not json at all',
    ];
    for (const payload of bad) {
      const reply = await nc.request(RouteLookupContract.subject, new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)), {
        timeout: 5000,
      });
      const body: unknown = JSON.parse(new TextDecoder().decode(reply.data));
      expect(body).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    const after = (await lookupA.metric('postern_route_lookup_rejected_total')) + (await lookupB.metric('postern_route_lookup_rejected_total'));
    expect(after - before).toBe(bad.length);
    expect((await route({ user: 'alice@example.com' })).route.host).toBe('127.0.0.2');
  });

  it('exposes lookups by protocol and outcome, latency and cache results in /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${lookupA.httpPort}/metrics`)).text();
    expect(text).toMatch(/postern_route_lookups_total\{[^}]*protocol="imap"[^}]*outcome="ROUTE"/);
    expect(text).toContain('postern_route_lookup_duration_seconds_bucket');
    expect(text).toContain('postern_route_cache_requests_total');
    expect(text).not.toContain('alice');
  });
});

describe('directory outages', () => {
  it('a hung directory: cached routes still answer, uncached users get UNAVAILABLE within the deadline, never a hang', async () => {
    await route({ user: 'alice@example.com', protocol: 'imapssl' }); // warm
    await slapd.pause();
    try {
      const cached = await route({ user: 'alice@example.com', protocol: 'imapssl' });
      expect(cached.source).toBe('cache');
      const started = Date.now();
      await expect(lookup({ user: 'henry@partner.test', protocol: 'imap', deadlineMs: 1500 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      // The deadline plus scheduling room on a loaded machine: far below a hang.
      expect(Date.now() - started).toBeLessThan(1500 + 2000);
    } finally {
      await slapd.resume();
    }
  });

  it('a stopped directory: UNAVAILABLE quickly; after a restart lookups work again', async () => {
    await slapd.stop();
    try {
      await expect(lookup({ user: 'grace@example.com', protocol: 'pop3' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect((await route({ user: 'alice@example.com', protocol: 'imapssl' })).source).toBe('cache');
    } finally {
      await slapd.restart();
    }
    await waitFor(
      'lookups after the directory restart',
      async () => (await lookup({ user: 'grace@example.com', protocol: 'pop3' }).catch(() => null))?.outcome === 'NOT_ALLOWED',
    );
  });
});

describe('queue group', () => {
  it('two instances share the load, and stopping one mid-run loses no request', async () => {
    const served = async () => [await lookupA.metric('postern_route_lookups_total'), await lookupB.metric('postern_route_lookups_total')];
    const [a0, b0] = await served();
    const users = ['alice@example.com', 'bob@example.com', 'al@example.com', 'alice@example.net', 'erin@example.com', 'nobody@example.com'];
    let sent = 0;
    const failures: unknown[] = [];
    const outcomes: string[] = [];
    const one = async () => {
      const user = users[sent++ % users.length]!;
      try {
        outcomes.push((await lookup({ user }, 5000)).outcome);
      } catch (error) {
        failures.push(error);
      }
    };
    // First a burst both instances take part in.
    await Promise.all(Array.from({ length: 200 }, one));
    const [a1, b1] = await served();
    expect(a1! - a0!).toBeGreaterThan(0);
    expect(b1! - b0!).toBeGreaterThan(0);

    // Then a steady stream while instance A drains and exits.
    let streaming = true;
    const stream = (async () => {
      while (streaming) await Promise.all(Array.from({ length: 10 }, one));
    })();
    await waitFor('some requests in flight', async () => sent > 300);
    await lookupA.stop();
    const afterStop = sent;
    await waitFor('the stream to go on after the stop', async () => sent > afterStop + 300);
    streaming = false;
    await stream;

    expect(failures).toEqual([]);
    expect(outcomes.length).toBe(sent);
    expect(new Set(outcomes)).toEqual(new Set(['ROUTE', 'NOT_FOUND']));
    expect(lookupA.process.exited).toBe(true);
  });
});
