/** Opening the directory a service is configured with: LDAP when URLs are given, else the LDIF file. */
import type { BootstrapConfig } from '@postern/config';
import type { DirectoryBackend } from './directory';
import { LdapDirectory } from './ldap-backend';
import { LdifDirectory } from './memory-backend';
import { ZimbraDirectory } from './zimbra-directory';

/** Where the directory is: the bootstrap config's `ldap*` and `directoryLdif` values. */
export type DirectoryLocation = Pick<BootstrapConfig, 'ldapUrls' | 'ldapBindDn' | 'ldapBindPassword' | 'ldapBaseDn' | 'ldapConnectTimeoutMs' | 'directoryLdif'>;

/** The directory at `where`, or undefined when none is configured. */
export function openDirectory(where: DirectoryLocation, operationTimeoutMs: number): DirectoryBackend | undefined {
  if (where.ldapUrls.length > 0) {
    return new LdapDirectory({
      urls: where.ldapUrls,
      bindDn: where.ldapBindDn,
      bindPassword: where.ldapBindPassword,
      baseDn: where.ldapBaseDn,
      connectTimeoutMs: where.ldapConnectTimeoutMs,
      timeoutMs: operationTimeoutMs,
    });
  }
  return where.directoryLdif ? LdifDirectory.fromFile(where.directoryLdif, { baseDn: where.ldapBaseDn }) : undefined;
}

/** The settings that say where domains are (`zimbraReverseProxyDomainName{SearchBase,Attribute}`). */
export interface DomainQuerySettings {
  readonly zimbraReverseProxyDomainNameSearchBase: string;
  readonly zimbraReverseProxyDomainNameAttribute: string;
}

/**
 * The directory a frontend reads virtual hosts (names, certificates) from, or undefined when none
 * is configured. `onClose` is given the backend's close, for the service's stop.
 */
export function virtualHostDirectory(
  where: DirectoryLocation,
  settings: DomainQuerySettings,
  operationTimeoutMs: number,
  onClose: (close: () => Promise<void>) => void,
): ZimbraDirectory | undefined {
  const backend = openDirectory(where, operationTimeoutMs);
  if (!backend) return undefined;
  onClose(() => backend.close());
  return new ZimbraDirectory(backend, {
    domainNameSearchBase: settings.zimbraReverseProxyDomainNameSearchBase,
    domainNameAttribute: settings.zimbraReverseProxyDomainNameAttribute,
  });
}
