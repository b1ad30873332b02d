/**
 * The bounds of a route cache entry, each with the reason for its value (the memcached client's own
 * limits are in @postern/memcached).
 */
import { Settings } from '@postern/config';

/** Lifetime of alias and route entries when none is given: `zimbraReverseProxyCacheEntryTTL`'s default, in seconds. */
export const DEFAULT_ROUTE_TTL_SECONDS = Math.ceil(Settings.zimbraReverseProxyCacheEntryTTL.default / 1000);

/**
 * A route entry is a few hundred bytes plus its allow-list (at most 256 × ~50 bytes); anything over
 * 16 KiB is not ours and is not parsed.
 */
export const MAX_ROUTE_VALUE_BYTES = 16_384;

/** A domain's client allow-list (`zimbraDomainAllowedIPs`) is a handful of networks; 256 bounds an entry. */
export const MAX_ALLOWED_IPS = 256;

/** Longest IP or CIDR in text form: a 45-character IPv6 address (IPv4-mapped) plus `/128`. */
export const MAX_IP_CHARS = 49;

/** RFC 5321 §4.5.3.1: local part 64 + `@` + domain 255 bounds an account name or login. */
export const MAX_ADDRESS_CHARS = 320;

/** RFC 1035: a DNS name is at most 253 characters in text form (IPv6 literals are shorter). */
export const MAX_HOST_CHARS = 253;

/** zimbraId is a 36-character UUID; 128 leaves room for other directories' ids. */
export const MAX_ACCOUNT_ID_CHARS = 128;
