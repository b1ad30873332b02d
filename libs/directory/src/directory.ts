/**
 * The directory port: what Postern needs of an LDAP directory with Zimbra's attribute names.
 *
 * Two backends implement {@link DirectoryBackend}: LDAP (ldapts, several URLs with failover) and an
 * LDIF file held in memory (the embedded directory of a single node). Everything Zimbra-specific
 * (query templates, attribute names, typed entries) lives in one layer above them, so both
 * backends answer the same queries the same way.
 */

/** Attribute values by attribute name. Names compare case-insensitively, as in LDAP. */
export type Attributes = Readonly<Record<string, readonly string[]>>;

/** One entry as returned by a search. */
export interface DirectoryEntry {
  readonly dn: string;
  readonly attributes: Attributes;
}

export interface SearchOptions {
  /** Search base. Defaults to the backend's configured base. */
  readonly base?: string;
  /** `sub` (the default): the base and everything below it; `base`: the base entry alone. */
  readonly scope?: 'base' | 'sub';
  /** Attributes to return; all user attributes when omitted. */
  readonly attributes?: readonly string[];
  /** Maximum number of entries; 0 or omitted means no limit. */
  readonly sizeLimit?: number;
}

/** A directory that answers RFC 4515 filter searches. */
export interface DirectoryBackend {
  /** Subtree search; rejects with {@link DirectoryUnavailableError} when no server answers in time. */
  search(filter: string, options?: SearchOptions): Promise<DirectoryEntry[]>;
  /** Releases connections; further searches reject. */
  close(): Promise<void>;
}
