/**
 * The route lookup: which mailbox server holds this user, for this protocol.
 *
 * The order follows Zimbra's lookup servlet (qualify the login, find the account by name, alias
 * or id, alias domains, allowed client IPs, external routes, home server and its port), with
 * these differences, each on purpose:
 *  - a cached route is checked against the domain's allowed IPs too (Zimbra skips the check on a
 *    cache hit), so the allowed IPs travel with the cached route;
 *  - closed, locked, pending and maintenance accounts are refused here instead of by the mailbox;
 *  - unqualified web logins use the virtual host for both http and https;
 *  - a directory that does not answer is a temporary failure (UNAVAILABLE), never a pass.
 */
import { attr, DirectoryUnavailableError, type Account, type Domain } from '@postern/directory';
import { ErrorCode, PosternError, type Route, type RouteLookupRequest, type RouteLookupResult, type RouteProtocol } from '@postern/contracts';
import type { EffectiveSettings } from '@postern/config';
import { isIpAllowed } from '@postern/ip-address';
import { loginNameScopeOf, routeForLogin, type CachedRoute, type LoginNameScope } from '@postern/route-cache';
import { mayActFor } from './acting-for';
import type { DirectoryPort, RouteCachePort } from './ports';

/** Account statuses that may not log in (Zimbra's `zimbraAccountStatus`). `lockout` is left to the mailbox: it ends by itself. */
const REFUSED_STATUSES = new Set(['closed', 'locked', 'pending', 'maintenance']);

/** External-route attribute stems per mail protocol (`zimbraExternal<Stem>Hostname` / `...Port`). */
const EXTERNAL_STEMS: Partial<Record<RouteProtocol, string>> = { imap: 'Imap', imapssl: 'ImapSSL', pop3: 'Pop3', pop3ssl: 'Pop3SSL' };

/** How each protocol finds its upstream port: the setting naming the server attribute, and the global fallback. */
const PORT_SETTINGS = {
  imap: ['zimbraReverseProxyImapPortAttribute', 'zimbraImapBindPort'],
  imapssl: ['zimbraReverseProxyImapSSLPortAttribute', 'zimbraImapSSLBindPort'],
  pop3: ['zimbraReverseProxyPop3PortAttribute', 'zimbraPop3BindPort'],
  pop3ssl: ['zimbraReverseProxyPop3SSLPortAttribute', 'zimbraPop3SSLBindPort'],
  http: ['zimbraReverseProxyHttpPortAttribute', 'zimbraMailPort'],
  httpssl: ['zimbraReverseProxyHttpSSLPortAttribute', 'zimbraMailSSLPort'],
} as const satisfies Record<RouteProtocol, readonly [keyof EffectiveSettings, keyof EffectiveSettings]>;

/** What a resolution reports besides its result, for metrics and logs. */
export interface ResolutionTrace {
  cache: 'hit' | 'miss' | 'off';
}

export class RouteResolver {
  constructor(
    private readonly directory: DirectoryPort,
    private readonly cache: RouteCachePort,
    private readonly settings: () => EffectiveSettings,
  ) {}

  /**
   * Resolves a request. Expected outcomes are results; a directory that is down throws
   * {@link PosternError} `UNAVAILABLE` carrying the auth-wait hint.
   */
  async resolve(request: RouteLookupRequest, trace: ResolutionTrace = { cache: 'off' }): Promise<RouteLookupResult> {
    const settings = this.settings();
    const waitMs = settings.zimbraReverseProxyAuthWaitInterval;
    try {
      return await this.resolveUnguarded(request, settings, trace);
    } catch (error) {
      if (error instanceof DirectoryUnavailableError) {
        throw new PosternError(ErrorCode.Unavailable, 'directory unavailable', { cause: error, retryAfterMs: waitMs });
      }
      throw error;
    }
  }

  private async resolveUnguarded(request: RouteLookupRequest, settings: EffectiveSettings, trace: ResolutionTrace): Promise<RouteLookupResult> {
    const waitMs = settings.zimbraReverseProxyAuthWaitInterval;
    const caching = settings.zimbraReverseProxyZmlookupCachingEnabled;
    const { protocol } = request;

    const unqualified = request.by === 'name' && !request.user.includes('@');
    const scope = unqualified ? loginNameScopeOf(request) : {};
    if (request.by === 'principal') return this.resolvePrincipal(request, settings);

    // The cache comes first and needs no directory: cached routes answer while LDAP is down.
    if (caching) {
      const cached = await this.fromCache(request, scope);
      trace.cache = cached ? 'hit' : 'miss';
      if (cached) {
        if (!isIpAllowed(request.clientIp, cached.allowedIps)) return { outcome: 'NOT_ALLOWED', reason: 'client-ip', waitMs };
        return { outcome: 'ROUTE', route: toRoute(cached), source: 'cache' };
      }
    }

    const login = unqualified ? await this.qualify(request, settings) : request.user;
    let account = await this.directory.findAccount(login);
    let domain: Domain | null = null;
    if (!account && request.by === 'name' && login.includes('@')) {
      // An alias domain: user@alias-domain is user@target-domain.
      const [local, domainName] = splitAddress(login);
      const aliasDomain = await this.directory.findDomainByName(domainName);
      if (aliasDomain?.type === 'alias' && aliasDomain.aliasTargetId) {
        const target = await this.directory.findDomainById(aliasDomain.aliasTargetId);
        if (target) account = await this.directory.findAccount(`${local}@${target.name}`);
      } else {
        domain = aliasDomain;
      }
    }

    if (!account) {
      // A domain that routes users it does not know to an external server.
      if (domain && isTrue(attr(domain.attributes, 'zimbraReverseProxyUseExternalRouteIfAccountNotExist'))) {
        const external = externalRoute(domain.attributes, protocol);
        if (external) {
          if (!isIpAllowed(request.clientIp, domain.allowedIps)) return { outcome: 'NOT_ALLOWED', reason: 'client-ip', waitMs };
          const route: Route = {
            ...external,
            accountName: login.toLowerCase(),
            accountId: '',
            upstreamUser: includeOriginal(domain, undefined) ? request.user : login,
            external: true,
          };
          return { outcome: 'ROUTE', route, source: 'directory' };
        }
      }
      return { outcome: 'NOT_FOUND', waitMs };
    }

    const found = await this.routeFor(account, request, settings);
    if (found.outcome !== 'ROUTE') return found;
    const { route, allowedIps } = found;
    if (!caching) return { outcome: 'ROUTE', route, source: 'directory' };
    const entry: CachedRoute = { ...route, ...(allowedIps.length > 0 ? { allowedIps: [...allowedIps] } : {}) };
    const writes = [this.cache.rememberRoute(protocol, entry)];
    if (request.by === 'name' && request.user.toLowerCase() !== account.name.toLowerCase()) {
      writes.push(this.cache.rememberLogin(request.user, scope, account.name));
    }
    await Promise.all(writes);
    return { outcome: 'ROUTE', route, source: 'directory' };
  }

  /**
   * A Kerberos principal (GSSAPI) to its account, as Zimbra's Krb5Principal: the account whose
   * `zimbraForeignPrincipal` is `kerberos5:<principal>`, else the principal's name in the domain
   * whose `zimbraAuthKerberos5Realm` is its realm. An authorization identity naming another
   * account routes to that account when this one may act for it ({@link mayActFor}). Nothing is
   * read from or written to the cache.
   */
  private async resolvePrincipal(request: RouteLookupRequest, settings: EffectiveSettings): Promise<RouteLookupResult> {
    const waitMs = settings.zimbraReverseProxyAuthWaitInterval;
    let account = await this.directory.findAccountByForeignPrincipal(`kerberos5:${request.user}`);
    const at = request.user.lastIndexOf('@');
    if (!account && at > 0) {
      const domain = await this.directory.findDomainByKerberosRealm(request.user.slice(at + 1));
      if (domain) account = await this.directory.findAccount(`${request.user.slice(0, at)}@${domain.name}`);
    }
    if (!account) return { outcome: 'NOT_FOUND', waitMs };
    let target = account;
    if (request.authzid !== undefined && request.authzid.toLowerCase() !== account.name.toLowerCase()) {
      // Another name of the same account (an alias) is the same identity; another account only
      // when this one may act for it. An unknown name is refused alike: no probing for accounts.
      const named = await this.directory.findAccount(request.authzid);
      if (!named || !mayActFor(account, named)) return { outcome: 'NOT_ALLOWED', reason: 'authzid', waitMs };
      // The account acted for is checked below; the one acting must be able to log in too.
      if (named.id !== account.id && REFUSED_STATUSES.has(account.status.toLowerCase())) return { outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs };
      target = named;
    }
    const found = await this.routeFor(target, request, settings);
    return found.outcome === 'ROUTE' ? { outcome: 'ROUTE', route: found.route, source: 'directory' } : found;
  }

  /** The account's route, once found: its status, its domain's allowed client IPs, external or home server. */
  private async routeFor(
    account: Account,
    request: RouteLookupRequest,
    settings: EffectiveSettings,
  ): Promise<Exclude<RouteLookupResult, { outcome: 'ROUTE' }> | { outcome: 'ROUTE'; route: Route; allowedIps: readonly string[] }> {
    const waitMs = settings.zimbraReverseProxyAuthWaitInterval;
    const { protocol } = request;
    if (REFUSED_STATUSES.has(account.status.toLowerCase())) return { outcome: 'NOT_ALLOWED', reason: 'account-status', waitMs };

    const accountDomain = await this.directory.findDomainByName(splitAddress(account.name)[1]);
    const allowedIps = accountDomain?.allowedIps ?? [];
    if (!isIpAllowed(request.clientIp, allowedIps)) return { outcome: 'NOT_ALLOWED', reason: 'client-ip', waitMs };

    // A principal is no login the client typed: the upstream name is the account's.
    const typed = request.by === 'principal' ? account.name : request.user;
    const route = (await this.externalFor(account, accountDomain, protocol, typed)) ?? (await this.internalFor(account, protocol, settings));
    if (!route) return { outcome: 'NOT_FOUND', waitMs };
    return { outcome: 'ROUTE', route, allowedIps };
  }

  /** Gives an unqualified login a domain: by virtual host (web), by virtual IP (mail), else the default domain. */
  private async qualify(request: RouteLookupRequest, settings: EffectiveSettings): Promise<string> {
    const scope = loginNameScopeOf(request);
    const domain = scope.virtualHost
      ? await this.directory.findDomainByVirtualHostname(scope.virtualHost)
      : scope.proxyIp
        ? await this.directory.findDomainByVirtualIp(scope.proxyIp)
        : null;
    const domainName = domain?.name ?? settings.zimbraDefaultDomainName;
    return domainName ? `${request.user}@${domainName}` : request.user;
  }

  private fromCache(request: RouteLookupRequest, scope: LoginNameScope): Promise<CachedRoute | null> {
    return request.by === 'id' ? this.cache.routeById(request.protocol, request.user) : routeForLogin(this.cache, request.protocol, request.user, scope);
  }

  /** The account's external route, else its domain's, for mail protocols; `null` when not configured or incomplete. */
  private async externalFor(account: Account, domain: Domain | null, protocol: RouteProtocol, typed: string): Promise<Route | null> {
    const owner = isTrue(attr(account.attributes, 'zimbraReverseProxyUseExternalRoute'))
      ? account.attributes
      : domain && isTrue(attr(domain.attributes, 'zimbraReverseProxyUseExternalRoute'))
        ? domain.attributes
        : null;
    if (!owner) return null;
    // Incomplete on the account: Zimbra falls back to the domain's values, then to the internal route.
    const external = externalRoute(owner, protocol) ?? (domain ? externalRoute(domain.attributes, protocol) : null);
    if (!external) return null;
    const upstreamUser = includeOriginal(domain, account) ? typed : (account.userName ?? account.name);
    return { ...external, accountName: account.name, accountId: account.id, upstreamUser, external: true };
  }

  private async internalFor(account: Account, protocol: RouteProtocol, settings: EffectiveSettings): Promise<Route | null> {
    if (!account.mailHost) return null;
    const [attributeSetting, fallbackSetting] = PORT_SETTINGS[protocol];
    const server = await this.directory.findServer(account.mailHost);
    const fromServer = server ? attr(server.attributes, settings[attributeSetting]) : undefined;
    const port = fromServer !== undefined && /^\d{1,5}$/.test(fromServer) ? Number(fromServer) : settings[fallbackSetting];
    return {
      host: account.mailHost,
      port,
      accountName: account.name,
      accountId: account.id,
      upstreamUser: account.userName ?? account.name,
      external: false,
    };
  }
}

function externalRoute(attributes: Account['attributes'], protocol: RouteProtocol): { host: string; port: number } | null {
  const stem = EXTERNAL_STEMS[protocol];
  if (!stem) return null;
  const host = attr(attributes, `zimbraExternal${stem}Hostname`);
  const port = Number(attr(attributes, `zimbraExternal${stem}Port`));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}

function includeOriginal(domain: Domain | null, account: Account | undefined): boolean {
  const value =
    (account && attr(account.attributes, 'zimbraReverseProxyExternalRouteIncludeOriginalAuthusername')) ??
    (domain && attr(domain.attributes, 'zimbraReverseProxyExternalRouteIncludeOriginalAuthusername'));
  return isTrue(value ?? undefined);
}

function isTrue(value: string | undefined): boolean {
  return value?.toUpperCase() === 'TRUE';
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  return [address.slice(0, at), address.slice(at + 1)];
}

function toRoute(cached: CachedRoute): Route {
  const { host, port, accountName, accountId, upstreamUser, external } = cached;
  return { host, port, accountName, accountId, upstreamUser, external };
}
