/** Opening the directory a service is configured with: LDAP when URLs are given, else the LDIF file. */
import type { DirectoryBackend } from './directory';
import { LdapDirectory } from './ldap-backend';
import { LdifDirectory } from './memory-backend';
import { ZimbraDirectory } from './zimbra-directory';

/** Where the directory is (the bootstrap config's `ldap*` and `directoryLdif` values). */
export interface DirectoryLocation {
  readonly ldapUrls: readonly string[];
  readonly ldapBindDn: string | undefined;
  readonly ldapBindPassword: string | undefined;
  readonly ldapBaseDn: string;
  readonly ldapConnectTimeoutMs: number;
  readonly directoryLdif: string | undefined;
}

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
