/**
 * The routing view of the shared cache, used by the lookup service and by every frontend: they must
 * all build the same keys, so the key layout lives here and nowhere else.
 *
 * Key layout (all parts hashed by {@link cacheKey}; logins, names and ids lower-cased first):
 * | entry | kind | parts |
 * |---|---|---|
 * | qualified login → account | `alias` | `['qualified', login]` |
 * | unqualified login → account | `alias` | `['unqualified', login, proxyIp, virtualHost]` |
 * | route by account name | `route` | `[protocol, accountName]` |
 * | route by account id | `route-id` | `[protocol, accountId]` |
 *
 * An unqualified login's key carries how it was qualified (the proxy IP for mail, the virtual host
 * for web), so `john` arriving on two virtual IPs never shares an entry (Zimbra's collision bug).
 *
 * Writes use `set`, not `add` as Zimbra did: invalidation here is explicit (mailbox move, upstream
 * auth failure, purge), so a freshly resolved route must overwrite whatever is cached; with `add` a
 * stale entry survives every re-resolution until its TTL ends.
 *
 * Failure policy: the cache is an optimisation, so a cache failure never fails a login. Reads count
 * it as a miss, writes drop it, and both report it through `onError`. A cached value that fails the
 * strict schema, or that belongs to another account than the one asked for, is a miss and is deleted.
 */
import { RouteProtocolSchema, type RouteProtocol } from '@postern/contracts';
import { unmapIpv4 } from '@postern/ip-address';
import { CacheArgumentError, cacheKey, CacheValueError, DEFAULT_KEY_NAMESPACE, type MemcachedClient } from '@postern/memcached';
import { DEFAULT_ROUTE_TTL_SECONDS } from './limits';
import { checkRoute, decodeAlias, decodeRoute, encodeAlias, encodeRoute, isName, type CachedRoute, type Decoded } from './route-value';

export type { CachedRoute } from './route-value';

/** Protocols a route is cached for (the contracts' list); each has its own upstream port, hence its own entry. */
export const ROUTE_PROTOCOLS: readonly RouteProtocol[] = RouteProtocolSchema.options;
export type { RouteProtocol };

/**
 * The scope a login name is resolved in, the same rule on every side: the virtual host for the
 * web, the proxy address the mail client reached for mail.
 */
export function loginNameScopeOf(query: {
  readonly protocol: RouteProtocol;
  readonly proxyIp?: string | undefined;
  readonly virtualHost?: string | undefined;
}): LoginNameScope {
  const web = query.protocol === 'http' || query.protocol === 'httpssl';
  if (web) return query.virtualHost ? { virtualHost: query.virtualHost.toLowerCase() } : {};
  return query.proxyIp ? { proxyIp: query.proxyIp } : {};
}

/** The reads {@link routeForLogin} needs: a RouteCache, or a test's map-backed stand-in. */
export interface RouteReads {
  route(protocol: RouteProtocol, accountName: string): Promise<CachedRoute | null>;
  accountForLogin(login: string, scope: LoginNameScope): Promise<string | null>;
}

/**
 * The cached route of a login as typed, or null: the route stored under the name itself (routes
 * are keyed by account name only, so a hit means it is the account name), else the account its
 * alias entry names; both reads at once. The one cache-read rule of the frontends and the lookup service.
 */
export async function routeForLogin(cache: RouteReads, protocol: RouteProtocol, login: string, scope: LoginNameScope): Promise<CachedRoute | null> {
  const [direct, accountName] = await Promise.all([
    login.includes('@') ? cache.route(protocol, login) : Promise.resolve(null),
    cache.accountForLogin(login, scope),
  ]);
  if (direct) return direct;
  return accountName && accountName.toLowerCase() !== login.toLowerCase() ? cache.route(protocol, accountName) : null;
}

/**
 * The scope in which a login name is resolved to an account: the virtual IP or virtual host whose
 * domain qualifies an unqualified name. Part of an unqualified login's alias key, so one name on
 * two virtual hosts is two entries.
 */
export interface LoginNameScope {
  /** The proxy's local (virtual) IP the mail client connected to. */
  readonly proxyIp?: string;
  /** The virtual host name of a web request, without port. */
  readonly virtualHost?: string;
}

/** A login to invalidate: qualified logins need no scope. */
export type LoginRef = string | { readonly login: string; readonly scope: LoginNameScope };

/** The operations RouteCache needs; {@link MemcachedClient} provides them. */
export type RouteCacheClient = Pick<MemcachedClient, 'get' | 'set' | 'delete'>;

/** Options of {@link RouteCache}. */
export interface RouteCacheOptions {
  /** Lifetime of alias and route entries (`zimbraReverseProxyCacheEntryTTL`). Default {@link DEFAULT_ROUTE_TTL_SECONDS}. */
  readonly ttlSeconds?: number;
  /** Key namespace; every node of one deployment must use the same. Default `postern`. */
  readonly namespace?: string;
  /** Told about every cache failure that was absorbed (operation name and error). */
  readonly onError?: (op: string, error: Error) => void;
}

/** Is `protocol` one of {@link ROUTE_PROTOCOLS}? */
export function isRouteProtocol(protocol: unknown): protocol is RouteProtocol {
  return typeof protocol === 'string' && (ROUTE_PROTOCOLS as readonly string[]).includes(protocol);
}

/**
 * The alias key of a login. @throws {CacheArgumentError} for an unqualified login without scope
 * (its entry would be shared by every virtual IP) or an invalid login.
 */
export function aliasKey(login: string, scope: LoginNameScope = {}, namespace = DEFAULT_KEY_NAMESPACE): string {
  if (!isName(login)) throw new CacheArgumentError('login is empty, too long or contains whitespace or control characters');
  const name = login.toLowerCase();
  if (name.includes('@')) return cacheKey('alias', ['qualified', name], namespace);
  const proxyIp = normaliseIp(scope.proxyIp);
  const virtualHost = normaliseHost(scope.virtualHost);
  if (proxyIp === '' && virtualHost === '') throw new CacheArgumentError('an unqualified login needs its scope (proxyIp or virtualHost)');
  return cacheKey('alias', ['unqualified', name, proxyIp, virtualHost], namespace);
}

/** The key of a route by account name. */
export function routeKey(protocol: RouteProtocol, accountName: string, namespace = DEFAULT_KEY_NAMESPACE): string {
  if (!isRouteProtocol(protocol)) throw new CacheArgumentError(`unknown route protocol ${JSON.stringify(protocol)}`);
  if (!isName(accountName)) throw new CacheArgumentError('accountName is invalid');
  return cacheKey('route', [protocol, accountName.toLowerCase()], namespace);
}

/** The key of a route by account id. */
export function routeIdKey(protocol: RouteProtocol, accountId: string, namespace = DEFAULT_KEY_NAMESPACE): string {
  if (!isRouteProtocol(protocol)) throw new CacheArgumentError(`unknown route protocol ${JSON.stringify(protocol)}`);
  if (!isName(accountId)) throw new CacheArgumentError('accountId is invalid');
  return cacheKey('route-id', [protocol, accountId.toLowerCase()], namespace);
}

/** Alias and route entries in the shared cache. Never throws from reads or writes. */
export class RouteCache {
  private readonly ttlSeconds: number;
  private readonly namespace: string;
  private readonly onError: ((op: string, error: Error) => void) | undefined;

  /** @throws {CacheArgumentError} on an invalid TTL; {@link CacheKeyError} on an invalid namespace. */
  constructor(
    private readonly client: RouteCacheClient,
    options: RouteCacheOptions = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_ROUTE_TTL_SECONDS;
    if (!Number.isSafeInteger(this.ttlSeconds) || this.ttlSeconds < 0) throw new CacheArgumentError('ttlSeconds must be a non-negative integer');
    this.namespace = options.namespace ?? DEFAULT_KEY_NAMESPACE;
    cacheKey('route', [], this.namespace);
    this.onError = options.onError;
  }

  /** The canonical account name cached for a login, or null (miss or cache failure). */
  accountForLogin(login: string, scope: LoginNameScope): Promise<string | null> {
    return this.read('accountForLogin', () => aliasKey(login, scope, this.namespace), decodeAlias);
  }

  /**
   * Caches login → account name. A login that makes no key (an unqualified name without the
   * scope that qualified it: an operator's lookup, a default-domain login) is not cached, and
   * quietly: like the read, that is the caller's input, not a cache failure.
   */
  async rememberLogin(login: string, scope: LoginNameScope, accountName: string): Promise<void> {
    const op = 'rememberLogin';
    if (!isName(accountName)) return this.report(op, new CacheArgumentError('accountName is invalid'));
    let key: string;
    try {
      key = aliasKey(login, scope, this.namespace);
    } catch (error) {
      if (error instanceof CacheArgumentError) return;
      return this.report(op, error);
    }
    await this.write(op, [key], encodeAlias(accountName));
  }

  /** The cached route of a login as typed, or null (see {@link routeForLogin}). */
  routeForLogin(protocol: RouteProtocol, login: string, scope: LoginNameScope): Promise<CachedRoute | null> {
    return routeForLogin(this, protocol, login, scope);
  }

  /** The cached route of an account for a protocol, or null. */
  route(protocol: RouteProtocol, accountName: string): Promise<CachedRoute | null> {
    return this.read(
      'route',
      () => routeKey(protocol, accountName, this.namespace),
      (raw) => belongsTo(decodeRoute(raw), (r) => r.accountName.toLowerCase() === accountName.toLowerCase()),
    );
  }

  /** The cached route of an account id for a protocol (web tokens carry the id), or null. */
  routeById(protocol: RouteProtocol, accountId: string): Promise<CachedRoute | null> {
    return this.read(
      'routeById',
      () => routeIdKey(protocol, accountId, this.namespace),
      (raw) => belongsTo(decodeRoute(raw), (r) => r.accountId.toLowerCase() === accountId.toLowerCase()),
    );
  }

  /** Caches a route under the account name and under the account id. */
  async rememberRoute(protocol: RouteProtocol, route: CachedRoute): Promise<void> {
    const op = 'rememberRoute';
    const checked = checkRoute(route);
    if (!checked.ok) return this.report(op, new CacheArgumentError(`refusing to cache an invalid route: ${checked.reason}`));
    let keys: string[];
    try {
      keys = [routeKey(protocol, checked.value.accountName, this.namespace), routeIdKey(protocol, checked.value.accountId, this.namespace)];
    } catch (error) {
      return this.report(op, error);
    }
    await this.write(op, keys, encodeRoute(checked.value));
  }

  /**
   * Deletes the account's routes for every protocol, by name and by id, and the alias entries of the
   * given logins (a qualified login needs no scope; an unqualified one needs the scope it was
   * cached under). Failures are reported through `onError`.
   * @returns how many entries existed and were deleted.
   */
  async invalidate(account: { accountName: string; accountId?: string; logins?: readonly LoginRef[] }): Promise<number> {
    const op = 'invalidate';
    const keys = new Set<string>();
    const collect = (build: () => string) => {
      try {
        keys.add(build());
      } catch (error) {
        this.report(op, error);
      }
    };
    for (const protocol of ROUTE_PROTOCOLS) {
      collect(() => routeKey(protocol, account.accountName, this.namespace));
      if (account.accountId !== undefined) {
        const { accountId } = account;
        collect(() => routeIdKey(protocol, accountId, this.namespace));
      }
    }
    for (const login of account.logins ?? []) {
      collect(() => (typeof login === 'string' ? aliasKey(login, {}, this.namespace) : aliasKey(login.login, login.scope, this.namespace)));
    }
    const results = await Promise.allSettled([...keys].map((key) => this.client.delete(key)));
    let deleted = 0;
    for (const result of results) {
      if (result.status === 'rejected') this.report(op, result.reason);
      else if (result.value) deleted++;
    }
    return deleted;
  }

  private async read<T>(op: string, keyOf: () => string, decode: (raw: Buffer) => Decoded<T>): Promise<T | null> {
    let key: string;
    let raw: Buffer | null;
    try {
      key = keyOf();
    } catch (error) {
      // A login that makes no key (a space, a control character, no scope) is the client's input,
      // not a cache failure: a quiet miss, so a client cannot fill the logs with it.
      if (error instanceof CacheArgumentError) return null;
      this.report(op, error);
      return null;
    }
    try {
      raw = await this.client.get(key);
    } catch (error) {
      this.report(op, error);
      return null;
    }
    if (raw === null) return null;
    const decoded = decode(raw);
    if (decoded.ok) return decoded.value;
    this.report(op, new CacheValueError(`discarded an invalid cached entry: ${decoded.reason}`));
    try {
      await this.client.delete(key);
    } catch (error) {
      this.report(op, error);
    }
    return null;
  }

  private async write(op: string, keys: readonly string[], value: string): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        try {
          await this.client.set(key, value, this.ttlSeconds);
        } catch (error) {
          this.report(op, error);
        }
      }),
    );
  }

  private report(op: string, error: unknown): void {
    try {
      this.onError?.(op, error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing error observer must not turn an absorbed cache failure into a failed login.
    }
  }
}

function belongsTo(decoded: Decoded<CachedRoute>, owns: (route: CachedRoute) => boolean): Decoded<CachedRoute> {
  if (!decoded.ok || owns(decoded.value)) return decoded;
  return { ok: false, reason: 'entry belongs to another account' };
}

function normaliseIp(ip: string | undefined): string {
  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; every spelling is one address.
  return ip === undefined ? '' : unmapIpv4(ip).toLowerCase();
}

function normaliseHost(host: string | undefined): string {
  if (host === undefined) return '';
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
