/**
 * Typed errors of the cache library. Every class carries a stable `code` that callers and metrics
 * can switch on (messages are for humans and may change) and, where there is one, the underlying
 * failure as `cause`.
 */

/** Stable codes of {@link CacheError} subclasses. */
export type CacheErrorCode = 'CACHE_UNAVAILABLE' | 'CACHE_PROTOCOL' | 'CACHE_KEY' | 'CACHE_ARGUMENT' | 'CACHE_INVALID_VALUE';

/** Base class of every error thrown or reported by `@postern/route-cache`. */
export abstract class CacheError extends Error {
  /** Stable machine-readable code. */
  abstract readonly code: CacheErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The cache could not answer: no live server, a connect failure, a socket error, a timeout, or the
 * client is closed. Callers treat it as a temporary failure (a miss for reads, fail-open for
 * throttles), never as an answer.
 */
export class CacheUnavailableError extends CacheError {
  readonly code = 'CACHE_UNAVAILABLE' as const;
  /** The `host:port` concerned, when one server is. */
  readonly server: string | undefined;

  constructor(message: string, options: { cause?: unknown; server?: string } = {}) {
    super(message, options);
    this.server = options.server;
  }
}

/** The server sent `ERROR`, `CLIENT_ERROR`, `SERVER_ERROR` or a reply this client cannot accept. */
export class CacheProtocolError extends CacheError {
  readonly code = 'CACHE_PROTOCOL' as const;
  /** The server's reply line when it was an error reply (e.g. `SERVER_ERROR out of memory`). */
  readonly reply: string | undefined;

  constructor(message: string, options: { cause?: unknown; reply?: string } = {}) {
    super(message, options);
    this.reply = options.reply;
  }
}

/** A key that must not reach the protocol: empty, too long, or with bytes outside `[A-Za-z0-9:._-]`. */
export class CacheKeyError extends CacheError {
  readonly code = 'CACHE_KEY' as const;
}

/** An invalid argument other than a key: value too large, bad TTL, delta, CAS token or option. */
export class CacheArgumentError extends CacheError {
  readonly code = 'CACHE_ARGUMENT' as const;
}

/** A cached value failed validation on read (foreign or poisoned entry); it is treated as a miss. */
export class CacheValueError extends CacheError {
  readonly code = 'CACHE_INVALID_VALUE' as const;
}
