/**
 * The resolver against the fixture directory held in memory (the real LDIF backend) and a
 * map-backed route cache; the same cases run against slapd in test/integration.
 */
import { resolveSettings, type EffectiveSettings } from '@postern/config';
import type { RouteLookupRequest } from '@postern/contracts';
import { DIRECTORY_FIXTURE_PATH, DirectoryUnavailableError, LdifDirectory, ZimbraDirectory } from '@postern/directory';
import type { CachedRoute, LoginNameScope, RouteProtocol } from '@postern/route-cache';
import { beforeEach, describe, expect, it } from 'vitest';
import { DirectoryMemo } from './directory-memo';
import type { DirectoryPort, RouteCachePort } from './ports';
import { RouteResolver, type ResolutionTrace } from './route-resolver';

class MapCache implements RouteCachePort {
  readonly routes = new Map<string, CachedRoute>();
  readonly logins = new Map<string, string>();
  private loginKey(login: string, scope: LoginNameScope) {
    return `${login.toLowerCase()}|${login.includes('@') ? '' : `${scope.proxyIp ?? ''}|${scope.virtualHost ?? ''}`}`;
  }
  async accountForLogin(login: string, scope: LoginNameScope) {
    return this.logins.get(this.loginKey(login, scope)) ?? null;
  }
  async rememberLogin(login: string, scope: LoginNameScope, accountName: string) {
    this.logins.set(this.loginKey(login, scope), accountName);
  }
  async route(protocol: RouteProtocol, accountName: string) {
    return this.routes.get(`${protocol}|${accountName.toLowerCase()}`) ?? null;
  }
  async routeById(protocol: RouteProtocol, accountId: string) {
    return this.routes.get(`${protocol}|id|${accountId}`) ?? null;
  }
  async rememberRoute(protocol: RouteProtocol, route: CachedRoute) {
    this.routes.set(`${protocol}|${route.accountName.toLowerCase()}`, route);
    if (route.accountId) this.routes.set(`${protocol}|id|${route.accountId}`, route);
  }
}

/** A directory that can be switched off, as a stand-in for an LDAP outage. */
class SwitchableDirectory implements DirectoryPort {
  down = false;
  searches = 0;
  constructor(private readonly inner: DirectoryPort) {}
  private guard<T>(f: () => Promise<T>): Promise<T> {
    this.searches++;
    return this.down ? Promise.reject(new DirectoryUnavailableError('directory is down')) : f();
  }
  findAccount(n: string) {
    return this.guard(() => this.inner.findAccount(n));
  }
  findAccountByForeignPrincipal(n: string) {
    return this.guard(() => this.inner.findAccountByForeignPrincipal(n));
  }
  findDomainByKerberosRealm(n: string) {
    return this.guard(() => this.inner.findDomainByKerberosRealm(n));
  }
  findDomainByName(n: string) {
    return this.guard(() => this.inner.findDomainByName(n));
  }
  findDomainById(n: string) {
    return this.guard(() => this.inner.findDomainById(n));
  }
  findDomainByVirtualIp(n: string) {
    return this.guard(() => this.inner.findDomainByVirtualIp(n));
  }
  findDomainByVirtualHostname(n: string) {
    return this.guard(() => this.inner.findDomainByVirtualHostname(n));
  }
  findServer(n: string) {
    return this.guard(() => this.inner.findServer(n));
  }
}

const fixture = LdifDirectory.fromFile(DIRECTORY_FIXTURE_PATH);
let settings: EffectiveSettings;
let directory: SwitchableDirectory;
let cache: MapCache;
let resolver: RouteResolver;

const ask = (r: Partial<RouteLookupRequest> & { user: string }, trace?: ResolutionTrace) =>
  resolver.resolve({ by: 'name', protocol: 'imap', clientIp: '192.0.2.1', ...r }, trace);

beforeEach(async () => {
  const zimbra = new ZimbraDirectory(fixture);
  settings = resolveSettings({ global: await zimbra.globalConfig() });
  directory = new SwitchableDirectory(zimbra);
  cache = new MapCache();
  resolver = new RouteResolver(directory, cache, () => settings);
});

describe('RouteResolver', () => {
  it.each([
    ['alice@example.com', 'imap', '127.0.0.2', 7143],
    ['alice@example.com', 'imapssl', '127.0.0.2', 7993],
    ['alice@example.com', 'pop3ssl', '127.0.0.2', 7995],
    ['alice@example.com', 'http', '127.0.0.2', 8080],
    ['alice@example.com', 'httpssl', '127.0.0.2', 8443],
    ['bob@example.com', 'pop3ssl', '127.0.0.3', 7995],
    ['al@example.com', 'imap', '127.0.0.2', 7143],
    ['ALICE@EXAMPLE.NET', 'imap', '127.0.0.2', 7143],
  ] as const)('%s over %s → %s:%i', async (user, protocol, host, port) => {
    const result = await ask({ user, protocol });
    expect(result).toMatchObject({
      outcome: 'ROUTE',
      route: { host, port, accountName: user.startsWith('b') ? 'bob@example.com' : 'alice@example.com', external: false },
    });
  });

  it('qualifies unqualified logins: virtual IP, virtual host, default domain', async () => {
    expect(await ask({ user: 'carol', proxyIp: '127.0.0.11', clientIp: '127.0.0.1' })).toMatchObject({ route: { accountName: 'carol@example.org' } });
    expect(await ask({ user: 'alice', protocol: 'httpssl', virtualHost: 'WEBMAIL.example.com' })).toMatchObject({
      route: { accountName: 'alice@example.com' },
    });
    expect(await ask({ user: 'bob' })).toMatchObject({ route: { accountName: 'bob@example.com' } });
    settings = { ...settings, zimbraDefaultDomainName: '' };
    expect(await ask({ user: 'bob', proxyIp: '127.0.0.99' })).toMatchObject({ outcome: 'NOT_FOUND' });
  });

  it('returns the auth-wait hint with refusals', async () => {
    expect(await ask({ user: 'nobody@example.com' })).toEqual({ outcome: 'NOT_FOUND', waitMs: 10_000 });
    expect(await ask({ user: 'frank@example.com' })).toEqual({ outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs: 10_000 });
    expect(await ask({ user: 'carol@example.org', clientIp: '198.51.100.1' })).toEqual({ outcome: 'NOT_ALLOWED', reason: 'client-ip', waitMs: 10_000 });
  });

  it('routes externally: account, then domain, then unknown users of the domain', async () => {
    expect(await ask({ user: 'erin@example.com', protocol: 'imapssl' })).toMatchObject({
      route: { host: 'imap.erin.test', port: 1993, external: true, upstreamUser: 'erin@example.com' },
    });
    expect(await ask({ user: 'erin@example.com', protocol: 'pop3' })).toMatchObject({ route: { host: '127.0.0.2', external: false } });
    expect(await ask({ user: 'henry@partner.test' })).toMatchObject({ route: { host: 'imap.partner.test', port: 143, external: true } });
    expect(await ask({ user: 'Someone@partner.test', protocol: 'pop3' })).toMatchObject({
      route: { host: 'pop.partner.test', port: 110, accountId: '', upstreamUser: 'Someone@partner.test' },
    });
    expect(await ask({ user: 'someone@partner.test', protocol: 'http' })).toMatchObject({ outcome: 'NOT_FOUND' });
  });

  it('writes the cache, then answers from it without the directory', async () => {
    const trace: ResolutionTrace = { cache: 'off' };
    await ask({ user: 'al@example.com', protocol: 'imapssl' }, trace);
    expect(trace.cache).toBe('miss');
    directory.down = true;
    const again: ResolutionTrace = { cache: 'off' };
    expect(await ask({ user: 'al@example.com', protocol: 'imapssl' }, again)).toMatchObject({
      outcome: 'ROUTE',
      source: 'cache',
      route: { accountName: 'alice@example.com' },
    });
    expect(again.cache).toBe('hit');
    expect(await ask({ user: 'alice@example.com', protocol: 'imapssl' })).toMatchObject({ source: 'cache' });
    const id = (await cache.route('imapssl', 'alice@example.com'))!.accountId;
    expect(await ask({ by: 'id', user: id, protocol: 'imapssl' })).toMatchObject({ source: 'cache' });
  });

  it('keeps enforcing the domain allowed IPs on cached routes', async () => {
    await ask({ user: 'carol@example.org', clientIp: '192.0.2.10' });
    directory.down = true;
    expect(await ask({ user: 'carol@example.org', clientIp: '192.0.2.11' })).toMatchObject({ source: 'cache' });
    expect(await ask({ user: 'carol@example.org', clientIp: '203.0.113.5' })).toMatchObject({ outcome: 'NOT_ALLOWED', reason: 'client-ip' });
  });

  it('caches an unqualified login under its scope, so the same name on another virtual IP is not confused', async () => {
    await ask({ user: 'carol', proxyIp: '127.0.0.11', clientIp: '127.0.0.1' });
    directory.down = true;
    expect(await ask({ user: 'carol', proxyIp: '127.0.0.11', clientIp: '127.0.0.1' })).toMatchObject({
      source: 'cache',
      route: { accountName: 'carol@example.org' },
    });
    await expect(ask({ user: 'carol', proxyIp: '127.0.0.10', clientIp: '127.0.0.1' })).rejects.toMatchObject({ code: 'UNAVAILABLE', retryAfterMs: 10_000 });
  });

  it('never caches refusals, and does nothing with the cache when caching is off', async () => {
    await ask({ user: 'frank@example.com' });
    await ask({ user: 'nobody@example.com' });
    expect(cache.routes.size).toBe(0);
    settings = { ...settings, zimbraReverseProxyZmlookupCachingEnabled: false };
    await ask({ user: 'alice@example.com' });
    expect(cache.routes.size).toBe(0);
  });

  it('turns a directory outage into UNAVAILABLE, never a pass', async () => {
    directory.down = true;
    await expect(ask({ user: 'bob@example.com' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('honours a changed port attribute setting (hot settings)', async () => {
    settings = { ...settings, zimbraReverseProxyImapPortAttribute: 'zimbraImapSSLBindPort' };
    expect(await ask({ user: 'bob@example.com' })).toMatchObject({ route: { port: 7993 } });
  });
});

describe('DirectoryMemo', () => {
  it('remembers domains and servers for its lifetime, and serves them stale while the directory is down', async () => {
    let now = 0;
    const memo = new DirectoryMemo(directory, 1000, () => now);
    await memo.findDomainByName('example.com');
    const searches = directory.searches;
    await memo.findDomainByName('example.com');
    expect(directory.searches).toBe(searches);
    now = 5000;
    directory.down = true;
    expect((await memo.findDomainByName('example.com'))?.name).toBe('example.com');
    await expect(memo.findDomainByName('example.org')).rejects.toBeInstanceOf(DirectoryUnavailableError);
    await expect(memo.findAccount('alice@example.com')).rejects.toBeInstanceOf(DirectoryUnavailableError);
  });
});
