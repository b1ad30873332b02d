/**
 * Kerberos principals (SASL GSSAPI) to accounts, as Zimbra's Krb5Principal maps them, against the
 * fixture directory in memory with a realm on example.com, a foreign principal on carol, and three
 * administrators of example.com: root (global), dana (domain), ops (global, closed).
 */
import { readFileSync } from 'node:fs';
import { resolveSettings, type EffectiveSettings } from '@postern/config';
import type { RouteLookupRequest } from '@postern/contracts';
import { DIRECTORY_FIXTURE_PATH, LdifDirectory, ZimbraDirectory } from '@postern/directory';
import type { CachedRoute, RouteProtocol } from '@postern/route-cache';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RouteCachePort } from './ports';
import { RouteResolver } from './route-resolver';

const fixture = LdifDirectory.fromString(
  readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8')
    .replace(/(dn: dc=example\.com,ou=domains,dc=postern,dc=test\r?\n)/, '$1zimbraAuthKerberos5Realm: EXAMPLE.COM\n')
    .replace(/(dn: uid=carol,ou=people,dc=example\.org,[^\n]*\n)/, '$1zimbraForeignPrincipal: kerberos5:ck@CORP.TEST\n') +
    [
      ['root', 'zimbraIsAdminAccount: TRUE'],
      ['dana', 'zimbraIsDomainAdminAccount: TRUE'],
      ['ops', 'zimbraIsAdminAccount: TRUE\nzimbraAccountStatus: closed'],
    ]
      .map(([uid, role], n) =>
        [
          `\ndn: uid=${uid},ou=people,dc=example.com,ou=domains,dc=postern,dc=test`,
          'objectClass: inetOrgPerson',
          'objectClass: zimbraAccount',
          `uid: ${uid}`,
          `cn: ${uid}`,
          `sn: ${uid}`,
          `zimbraId: 7d0c2a9e-0000-4000-8000-00000000000${n}`,
          `zimbraMailDeliveryAddress: ${uid}@example.com`,
          'zimbraMailHost: 127.0.0.2',
          role,
          '',
        ].join('\n'),
      )
      .join(''),
);

/** A cache that records every use: a principal lookup must make none. */
class WatchedCache implements RouteCachePort {
  readonly uses: string[] = [];
  private readonly routes = new Map<string, CachedRoute>();
  async accountForLogin(login: string) {
    this.uses.push(`read ${login}`);
    return null;
  }
  async rememberLogin(login: string) {
    this.uses.push(`write ${login}`);
  }
  async route(protocol: RouteProtocol, accountName: string) {
    this.uses.push(`read ${accountName}`);
    return this.routes.get(accountName) ?? null;
  }
  async routeById(protocol: RouteProtocol, accountId: string) {
    this.uses.push(`read ${accountId}`);
    return null;
  }
  async rememberRoute(protocol: RouteProtocol, route: CachedRoute) {
    this.uses.push(`write ${route.accountName}`);
    this.routes.set(route.accountName, route);
  }
}

let settings: EffectiveSettings;
let cache: WatchedCache;
let resolver: RouteResolver;

const byPrincipal = (user: string, extra: Partial<RouteLookupRequest> = {}) =>
  resolver.resolve({ by: 'principal', user, protocol: 'imap', clientIp: '192.0.2.1', ...extra });

beforeEach(async () => {
  const zimbra = new ZimbraDirectory(fixture);
  settings = resolveSettings({ global: await zimbra.globalConfig() });
  cache = new WatchedCache();
  resolver = new RouteResolver(zimbra, cache, () => settings);
});

describe('RouteResolver by Kerberos principal', () => {
  it('finds the account whose zimbraForeignPrincipal names the principal', async () => {
    expect(await byPrincipal('ck@CORP.TEST')).toMatchObject({
      outcome: 'ROUTE',
      route: { accountName: 'carol@example.org', upstreamUser: 'carol@example.org' },
    });
  });

  it('else the principal’s name in the domain its realm maps to', async () => {
    expect(await byPrincipal('alice@EXAMPLE.COM')).toMatchObject({ outcome: 'ROUTE', route: { accountName: 'alice@example.com', host: '127.0.0.2' } });
  });

  it('a principal of no realm the directory knows, or with no account, is not found', async () => {
    expect(await byPrincipal('alice@ELSEWHERE.TEST')).toEqual({ outcome: 'NOT_FOUND', waitMs: 10_000 });
    expect(await byPrincipal('nobody@EXAMPLE.COM')).toEqual({ outcome: 'NOT_FOUND', waitMs: 10_000 });
  });

  it('refuses a closed account as any login', async () => {
    expect(await byPrincipal('frank@EXAMPLE.COM')).toEqual({ outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs: 10_000 });
  });

  it('accepts an authorization identity naming the account (by any of its names), refuses one naming another', async () => {
    expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'alice@example.com' })).toMatchObject({ outcome: 'ROUTE' });
    expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'al@example.com' })).toMatchObject({ outcome: 'ROUTE' });
    expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'bob@example.com' })).toEqual({ outcome: 'NOT_ALLOWED', reason: 'authzid', waitMs: 10_000 });
    expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'nobody@example.com' })).toEqual({ outcome: 'NOT_ALLOWED', reason: 'authzid', waitMs: 10_000 });
  });

  describe('an authorization identity naming another account (Zimbra’s AccessManager)', () => {
    const refused = { outcome: 'NOT_ALLOWED', reason: 'authzid', waitMs: 10_000 };

    it('a global admin acts for any account, of any domain, by any of its names: the route and upstream name are that account’s', async () => {
      expect(await byPrincipal('root@EXAMPLE.COM', { authzid: 'carol@example.org' })).toEqual({
        outcome: 'ROUTE',
        source: 'directory',
        route: {
          host: '127.0.0.3',
          port: 7143,
          accountName: 'carol@example.org',
          accountId: 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e03',
          upstreamUser: 'carol@example.org',
          external: false,
        },
      });
      expect(await byPrincipal('root@EXAMPLE.COM', { authzid: 'al@example.com' })).toMatchObject({
        outcome: 'ROUTE',
        route: { accountName: 'alice@example.com', upstreamUser: 'alice@example.com', host: '127.0.0.2' },
      });
      expect(await byPrincipal('root@EXAMPLE.COM', { authzid: 'henry@partner.test' })).toMatchObject({
        outcome: 'ROUTE',
        route: { accountName: 'henry@partner.test' },
      });
    });

    it('a domain admin acts for the accounts of its own domain, not for another domain’s, nor for a global admin', async () => {
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'bob@example.com' })).toMatchObject({
        outcome: 'ROUTE',
        route: { accountName: 'bob@example.com', upstreamUser: 'bob@example.com', host: '127.0.0.3' },
      });
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'alice.smith@example.com' })).toMatchObject({
        outcome: 'ROUTE',
        route: { accountName: 'alice@example.com' },
      });
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'carol@example.org' })).toEqual(refused);
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'henry@partner.test' })).toEqual(refused);
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'root@example.com' })).toEqual(refused);
    });

    it('a plain user acts for no other account, in its domain or another', async () => {
      expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'bob@example.com' })).toEqual(refused);
      expect(await byPrincipal('alice@EXAMPLE.COM', { authzid: 'carol@example.org' })).toEqual(refused);
      expect(await byPrincipal('ck@CORP.TEST', { authzid: 'alice@example.com' })).toEqual(refused);
    });

    it('an account that does not exist is refused alike, for an admin too (no probing for names)', async () => {
      expect(await byPrincipal('root@EXAMPLE.COM', { authzid: 'nobody@example.com' })).toEqual(refused);
      expect(await byPrincipal('dana@EXAMPLE.COM', { authzid: 'nobody@example.org' })).toEqual(refused);
    });

    it('both must be able to log in: a closed account acted for, or a closed admin acting, is refused', async () => {
      const closed = { outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs: 10_000 };
      expect(await byPrincipal('root@EXAMPLE.COM', { authzid: 'frank@example.com' })).toEqual(closed);
      expect(await byPrincipal('ops@EXAMPLE.COM', { authzid: 'alice@example.com' })).toEqual(closed);
    });
  });

  it('never reads or writes the route cache (Zimbra never caches a GSSAPI lookup), acting for another account included', async () => {
    await resolver.resolve({ by: 'name', user: 'alice@example.com', protocol: 'imap', clientIp: '192.0.2.1' });
    cache.uses.length = 0;
    await byPrincipal('alice@EXAMPLE.COM');
    await byPrincipal('ck@CORP.TEST');
    await byPrincipal('root@EXAMPLE.COM', { authzid: 'alice@example.com' });
    expect(cache.uses).toEqual([]);
  });
});
