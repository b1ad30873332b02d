/**
 * @postern/directory: Postern's view of a Zimbra-style LDAP directory.
 *
 * - {@link ZimbraDirectory}: account, domain, server and global-config lookups with Zimbra's query
 *   templates, over any {@link DirectoryBackend}.
 * - Backends: {@link LdapDirectory} (ldapts, failover, timeouts) and {@link LdifDirectory} (an LDIF
 *   file in memory, the embedded directory of a single node).
 * - Filter helpers: {@link escapeFilterValue}, {@link expandQueryTemplate}.
 *
 * The schema (`schema/postern-zimbra.schema`) and the shared fixture (`fixtures/directory.ldif`)
 * ship beside `src/`; {@link DIRECTORY_SCHEMA_PATH} and {@link DIRECTORY_FIXTURE_PATH} locate them.
 */
export type { Attributes, DirectoryBackend, DirectoryEntry, SearchOptions } from './directory';
export { DirectoryConfigError, DirectoryErrorCode, DirectoryQueryError, DirectoryUnavailableError, LdifSyntaxError } from './errors';
export { escapeFilterValue, expandQueryTemplate } from './filter';
export { parseLdif } from './ldif';
export { LdifDirectory, type LdifDirectoryOptions } from './memory-backend';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_RETRY_INTERVAL_MS, LdapDirectory, type LdapDirectoryOptions } from './ldap-backend';
export { attr, attrs, DEFAULT_ZIMBRA_QUERIES, ZimbraDirectory, type Account, type Domain, type Server, type ZimbraQueries } from './zimbra-directory';
export { DIRECTORY_FIXTURE_PATH, DIRECTORY_SCHEMA_PATH } from './paths';
export { openDirectory, virtualHostDirectory, type DirectoryLocation, type DomainQuerySettings } from './open';
export { VirtualHostCertificates, type CertificateSource } from './virtual-host-certificates';
export { VirtualHostNames, type DirectoryLog } from './virtual-host-names';
export { isWithinBase, normalizeDn } from './dn';
