/**
 * `@postern/memcached`: the memcached client every Postern service shares (the route cache, the
 * throttle's counters). The only home of the memcached protocol.
 *
 * - {@link MemcachedClient}: text-protocol client with ketama hashing, bounded timeouts and dead-server skipping.
 * - {@link cacheKey}: the only way to build a key (user input is hashed, never sent raw).
 */
export { CacheArgumentError, CacheError, CacheKeyError, CacheProtocolError, CacheUnavailableError, CacheValueError, type CacheErrorCode } from './errors';
export { cacheKey, DEFAULT_KEY_NAMESPACE, type CacheKeyKind } from './keys';
export { MemcachedClient, type CacheEvent, type MemcachedClientOptions, type ServerStatus } from './memcached-client';
export type { CacheValue, CasResult } from './commands';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RETRY_DEAD_SERVER_MS, DEFAULT_TIMEOUT_MS, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './limits';
