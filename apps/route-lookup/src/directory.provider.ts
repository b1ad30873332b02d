/**
 * The directory the service reads, as a provider (LDAP when URLs are configured, else the LDIF
 * file; closed when the service stops), and how the settings are read from it: global config <
 * this node's server entry < the config file's attributes.
 */
import type { FactoryProvider } from '@nestjs/common';
import { resolveSettings, type BootstrapConfig, type EffectiveSettings } from '@postern/config';
import { openDirectory, ZimbraDirectory, type DirectoryBackend, type ZimbraQueries } from '@postern/directory';
import { BOOTSTRAP, ServiceLifecycle } from '@postern/service-kit';

/** Injection token of the service's {@link DirectoryBackend}. */
export const DIRECTORY_BACKEND = Symbol('DIRECTORY_BACKEND');

/** The LDAP operation timeout until the settings are read (then the lookup timeout bounds each lookup). */
const BOOT_OPERATION_TIMEOUT_MS = 15_000;

/** The configured directory (checked at boot by requireDirectory: there is one). */
export function createBackend(bootstrap: BootstrapConfig, operationTimeoutMs: number): DirectoryBackend {
  const backend = openDirectory(bootstrap, operationTimeoutMs);
  if (!backend) throw new Error('no directory configured');
  return backend;
}

export const directoryProvider: FactoryProvider<DirectoryBackend> = {
  provide: DIRECTORY_BACKEND,
  inject: [BOOTSTRAP, ServiceLifecycle],
  useFactory: (bootstrap: BootstrapConfig, lifecycle: ServiceLifecycle) => {
    const backend = createBackend(bootstrap, BOOT_OPERATION_TIMEOUT_MS);
    lifecycle.onShutdown('stores', 'directory', () => backend.close());
    return backend;
  },
};

/** Reads global config and this node's server entry from the directory and resolves the settings. */
export async function loadSettings(directory: ZimbraDirectory, bootstrap: BootstrapConfig): Promise<EffectiveSettings> {
  const global = await directory.globalConfig();
  const server = bootstrap.serverName ? ((await directory.findServer(bootstrap.serverName))?.attributes ?? undefined) : undefined;
  return resolveSettings({ global: global ?? undefined, server, overrides: bootstrap.attributes });
}

/** The directory queries the settings configure (`zimbraReverseProxy*Query`, `*SearchBase`, `*Attribute`). */
export function queriesFrom(settings: EffectiveSettings): ZimbraQueries {
  return {
    mailHostQuery: settings.zimbraReverseProxyMailHostQuery,
    mailHostSearchBase: settings.zimbraReverseProxyMailHostSearchBase,
    mailHostAttribute: settings.zimbraReverseProxyMailHostAttribute,
    userNameAttribute: settings.zimbraReverseProxyUserNameAttribute || undefined,
    portQuery: settings.zimbraReverseProxyPortQuery,
    portSearchBase: settings.zimbraReverseProxyPortSearchBase,
    domainNameQuery: settings.zimbraReverseProxyDomainNameQuery,
    domainNameSearchBase: settings.zimbraReverseProxyDomainNameSearchBase,
    domainNameAttribute: settings.zimbraReverseProxyDomainNameAttribute,
  };
}
