/** Opening the directory a service is configured with: LDAP when URLs are given, else the LDIF file. */
import type { DirectoryBackend } from './directory';
import { LdapDirectory } from './ldap-backend';
import { LdifDirectory } from './memory-backend';

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
