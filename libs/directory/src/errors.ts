/**
 * Errors of the directory library: one class per failure, each with a stable `code`.
 *
 * Not finding an entry is not an error (lookups return `null`); these are for the failures a caller
 * must treat differently: the directory cannot answer now (temporary, retry or fail the login as a
 * temporary failure), a query is malformed (a configuration bug), or an LDIF file is broken.
 */

/** Stable codes of the directory errors, for mapping to protocol replies and metrics labels. */
export const DirectoryErrorCode = {
  Unavailable: 'DIRECTORY_UNAVAILABLE',
  Query: 'DIRECTORY_QUERY_INVALID',
  LdifSyntax: 'LDIF_SYNTAX',
  Config: 'DIRECTORY_CONFIG_INVALID',
} as const;
export type DirectoryErrorCode = (typeof DirectoryErrorCode)[keyof typeof DirectoryErrorCode];

/**
 * No directory server answered in time: every URL refused, timed out, or failed the bind, or the
 * backend was closed. A temporary failure: never treat it as "user not found".
 */
export class DirectoryUnavailableError extends Error {
  readonly code = DirectoryErrorCode.Unavailable;
  override readonly name = 'DirectoryUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A search filter or query template is malformed (RFC 4515 syntax, unknown template variable).
 * A configuration or programming error, not a directory outage.
 */
export class DirectoryQueryError extends Error {
  readonly code = DirectoryErrorCode.Query;
  override readonly name = 'DirectoryQueryError';

  /** The offending filter or template. */
  readonly query: string;

  constructor(message: string, query: string, options?: { cause?: unknown }) {
    super(message, options);
    this.query = query;
  }
}

/** An LDIF document does not parse (RFC 2849). `line` is 1-based and points at the bad line. */
export class LdifSyntaxError extends Error {
  readonly code = DirectoryErrorCode.LdifSyntax;
  override readonly name = 'LdifSyntaxError';

  readonly line: number;

  constructor(message: string, line: number, options?: { cause?: unknown }) {
    super(`${message} (line ${line})`, options);
    this.line = line;
  }
}

/** A backend or query-layer option is invalid (bad LDAP URL, no URLs, negative timeout). Raised at construction. */
export class DirectoryConfigError extends Error {
  readonly code = DirectoryErrorCode.Config;
  override readonly name = 'DirectoryConfigError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
