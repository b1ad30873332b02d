/**
 * `@postern/route-cache`: the shared memcached cache of login routes.
 *
 * - {@link MemcachedClient}: text-protocol client with ketama hashing, bounded timeouts and dead-server skipping.
 * - {@link cacheKey}: the only way to build a key (user input is hashed, never sent raw).
 * - {@link RouteCache}: alias and route entries shared by the lookup service and the frontends.
 */
export { CacheArgumentError, CacheError, CacheKeyError, CacheProtocolError, CacheUnavailableError, CacheValueError, type CacheErrorCode } from './errors';
export { cacheKey, DEFAULT_KEY_NAMESPACE, type CacheKeyKind } from './keys';
export { MemcachedClient, type CacheEvent, type MemcachedClientOptions, type ServerStatus } from './memcached-client';
export type { CacheValue, CasResult } from './commands';
export {
  aliasKey,
  isRouteProtocol,
  loginContextOf,
  RouteCache,
  routeForLogin,
  routeIdKey,
  routeKey,
  ROUTE_PROTOCOLS,
  type CachedRoute,
  type LoginContext,
  type LoginRef,
  type RouteCacheClient,
  type RouteCacheOptions,
  type RouteReads,
  type RouteProtocol,
} from './route-cache';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RETRY_DEAD_SERVER_MS, DEFAULT_ROUTE_TTL_SECONDS, DEFAULT_TIMEOUT_MS, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './limits';
