/**
 * Stable error codes shared by every service, and the one error class that carries them.
 *
 * Expected outcomes of a request (a user that does not exist, a login that is throttled) are
 * *results*, not errors; the codes below are for requests that could not be answered.
 */

/** Why a request could not be answered. Never renumbered or renamed: clients switch on them. */
export const ErrorCode = {
  /** The request violated its schema (wrong type, oversize field, control characters). Do not retry. */
  BadRequest: 'BAD_REQUEST',
  /** A dependency (directory, cache, bus) is down or too slow: a temporary failure, retry later. */
  Unavailable: 'UNAVAILABLE',
  /** The request's deadline passed before an answer. Temporary. */
  Timeout: 'TIMEOUT',
  /** The reply could not be understood (schema violation on the way back). */
  BadReply: 'BAD_REPLY',
  /** A bug: the service failed in a way it did not expect. */
  Internal: 'INTERNAL',
  /**
   * Another copy of this request (sent again because the first answer was late) was already taken
   * by an instance of the queue group, which answers it; this copy is not counted. Not an answer:
   * the requester waits for that other copy's reply.
   */
  Duplicate: 'DUPLICATE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes a client should treat as a temporary failure (IMAP `NO [UNAVAILABLE]`, POP3 `-ERR [SYS/TEMP]`, HTTP 503). */
export const TEMPORARY_ERROR_CODES: ReadonlySet<ErrorCode> = new Set([ErrorCode.Unavailable, ErrorCode.Timeout]);

/** An error with a stable {@link ErrorCode}, optionally carrying the underlying cause. */
export class PosternError extends Error {
  override readonly name: string = 'PosternError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
  /** A hint, in milliseconds, for how long a client should wait before retrying. */
  readonly retryAfterMs: number | undefined;

  /** True for failures a client should see as temporary. */
  get temporary(): boolean {
    return TEMPORARY_ERROR_CODES.has(this.code);
  }
}
