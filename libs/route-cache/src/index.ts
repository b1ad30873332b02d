/**
 * `@postern/route-cache`: the shared memcached cache of login routes: alias and route entries
 * written by the lookup service and read by every frontend, with hashed keys (the client is
 * @postern/memcached).
 */
export {
  aliasKey,
  isRouteProtocol,
  loginNameScopeOf,
  RouteCache,
  routeForLogin,
  routeIdKey,
  routeKey,
  ROUTE_PROTOCOLS,
  type CachedRoute,
  type LoginNameScope,
  type LoginRef,
  type RouteCacheClient,
  type RouteCacheOptions,
  type RouteReads,
  type RouteProtocol,
} from './route-cache';
export { DEFAULT_ROUTE_TTL_SECONDS } from './limits';
