/**
 * Cache key builder. No raw user input ever reaches the memcached protocol: CVE-2022-27924 poisoned
 * Zimbra's route cache by smuggling CR LF through unescaped keys (`route:proto=...;user=<login>`).
 * Here every user-influenced part is hashed, so a key is always `[A-Za-z0-9:._-]` and bounded.
 */
import { hash } from 'node:crypto';
import { CacheKeyError } from './errors';
import { MAX_KIND_CHARS, MAX_NAMESPACE_CHARS } from './limits';

/** The kinds of entry Postern stores; other kinds are allowed if they match `[a-z][a-z0-9-]*`. */
export type CacheKeyKind = 'alias' | 'route' | 'route-id' | 'throttle' | (string & {});

/** Version of the key layout: bump it when the encoding of parts changes, so old entries are ignored. */
const KEY_VERSION = 'v1';
const KIND_PATTERN = new RegExp(`^[a-z][a-z0-9-]{0,${MAX_KIND_CHARS - 1}}$`);
// No colon in a namespace: it separates the fixed fields of the key.
const NAMESPACE_PATTERN = new RegExp(`^[A-Za-z0-9._-]{1,${MAX_NAMESPACE_CHARS}}$`);

/** Default namespace of every key. */
export const DEFAULT_KEY_NAMESPACE = 'postern';

/**
 * Builds `${namespace}:v1:${kind}:${sha256hex(JSON.stringify(parts))}`.
 *
 * The parts are encoded as a JSON array before hashing, which is unambiguous: `['a:b', 'c']` and
 * `['a', 'b:c']` differ, as do `[1]` and `['1']`; lone surrogates are escaped by JSON.stringify.
 * `kind` and `namespace` are code constants and are validated, not hashed, to keep keys readable in
 * `memcached-tool` dumps.
 *
 * @throws {CacheKeyError} on an invalid kind or namespace, a non-finite number or a non-string part.
 */
export function cacheKey(kind: CacheKeyKind, parts: readonly (string | number)[], namespace: string = DEFAULT_KEY_NAMESPACE): string {
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) throw new CacheKeyError(`key kind must match ${KIND_PATTERN.source}`);
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) throw new CacheKeyError(`key namespace must match ${NAMESPACE_PATTERN.source}`);
  if (!Array.isArray(parts)) throw new CacheKeyError('key parts must be an array');
  for (const part of parts) {
    if (typeof part === 'number' ? !Number.isFinite(part) : typeof part !== 'string') {
      throw new CacheKeyError('key parts must be strings or finite numbers');
    }
  }
  const encoded = JSON.stringify(parts);
  let digest = recentDigests.get(encoded);
  if (digest === undefined) {
    // One-shot hash: a Hash object per key cost more than the digest (a check builds ten keys).
    digest = hash('sha256', encoded, 'hex');
    if (recentDigests.size >= RECENT_DIGESTS) recentDigests.clear();
    recentDigests.set(encoded, digest);
  }
  return `${namespace}:${KEY_VERSION}:${kind}:${digest}`;
}

/**
 * Digests of recent parts. A login builds the keys of the same address and account several times
 * (its three throttle checks, its route): a lookup here is a tenth of a digest's cost. Bounded
 * (cleared when full) so that a flood of names cannot grow it.
 */
const RECENT_DIGESTS = 4096;
const recentDigests = new Map<string, string>();
