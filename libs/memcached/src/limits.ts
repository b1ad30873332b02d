/**
 * Every size, time and count limit of the memcached client, each with the reason for its value.
 * Internal module: the options that callers may tune are documented on the option types.
 */

/** memcached's KEY_MAX_LENGTH: longer keys are refused with `CLIENT_ERROR`. */
export const MAX_KEY_BYTES = 250;

/** memcached's default item size (`-I 1m`): a default server refuses larger items anyway. */
export const MAX_VALUE_BYTES = 1024 * 1024;

/**
 * memcached's REALTIME_MAXDELTA (30 days): an exptime above it is read as an absolute unix time,
 * so a larger relative TTL must be converted or the item expires at once (a date in 1970).
 */
export const MAX_RELATIVE_TTL_SECONDS = 60 * 60 * 24 * 30;

/**
 * Longest reply line accepted. The longest legitimate line is a `VALUE` line of about 300 bytes
 * (250-byte key, flags, length, 20-digit CAS); 2 KiB leaves room for server error text while
 * bounding memory when the peer is not memcached.
 */
export const MAX_REPLY_LINE_BYTES = 2048;

/**
 * Longest `get` line the client builds when it merges gets into one multi-key `get`. memcached (and
 * twemproxy) read a command line of up to 1 KiB in their ordinary path and treat a longer one as a
 * large multiget; staying within it keeps every server and proxy version on the common path.
 */
export const MAX_MERGED_GET_LINE_BYTES = 1024;

/** CAS tokens are unsigned 64-bit integers: at most 20 decimal digits. */
export const MAX_CAS_DIGITS = 20;

/** `zimbraReverseProxyCacheFetchTimeout` default (3 s): an answer slower than this is no cache. */
export const DEFAULT_TIMEOUT_MS = 3_000;

/**
 * A LAN connect completes in well under a millisecond; one second means the host is gone and still
 * leaves most of the 3 s fetch budget to fail over.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;

/** `zimbraReverseProxyCacheReconnectInterval` default (1 min) before a dead server is tried again. */
export const DEFAULT_RETRY_DEAD_SERVER_MS = 60_000;

/**
 * libketama's layout: 40 MD5 digests per server, four 32-bit points per digest, 160 points. Enough
 * points for an even spread over a handful of servers, few enough to build the ring instantly.
 */
export const KETAMA_DIGESTS_PER_SERVER = 40;
/** Points taken from each 16-byte MD5 digest (four little-endian 32-bit words). */
export const KETAMA_POINTS_PER_DIGEST = 4;

/** A namespace is a short deployment label; 64 keeps any built key far below {@link MAX_KEY_BYTES}. */
export const MAX_NAMESPACE_CHARS = 64;

/** A key kind is a short constant; 32 keeps any built key far below {@link MAX_KEY_BYTES}. */
export const MAX_KIND_CHARS = 32;
