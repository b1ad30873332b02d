/**
 * The directory the watcher reads and the change source it reads it through, as a provider:
 * the LDIF file when that is the directory; else OpenLDAP's accesslog when it has one (or when
 * told so); else contextCSN polling. Closed when the service stops.
 */
import type { FactoryProvider } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { openDirectory, type DirectoryBackend } from '@postern/directory';
import { BOOTSTRAP, LOGGER, ServiceLifecycle, type Logger } from '@postern/service-kit';
import { AccesslogSource, LdifSource, PollSource } from './change-sources';
import type { ChangeSource } from './directory-change';
import { WATCHER_OPTIONS } from './tokens';
import type { WatcherOptions } from './watcher-options';

export const CHANGE_SOURCE = Symbol('CHANGE_SOURCE');

/** The change source and the directory to read entries from (for an LDIF file: as it is now). */
export interface WatchedDirectory {
  readonly source: ChangeSource;
  reader(): DirectoryBackend;
}

/** Each LDAP operation's bound: a directory that hangs is a failed pass, retried with backoff. */
const OPERATION_TIMEOUT_MS = 10_000;
/** Waiting for a directory that is down at start, before it is asked again whether it has a change log. */
const DETECT_RETRY_MS = 2_000;

export const watchedDirectoryProvider: FactoryProvider<Promise<WatchedDirectory>> = {
  provide: CHANGE_SOURCE,
  inject: [BOOTSTRAP, WATCHER_OPTIONS, LOGGER, ServiceLifecycle],
  useFactory: async (bootstrap: BootstrapConfig, options: WatcherOptions, logger: Logger, lifecycle: ServiceLifecycle) => {
    let watched: WatchedDirectory;
    if (options.source === 'ldif' || (options.source === 'auto' && bootstrap.ldapUrls.length === 0)) {
      if (!bootstrap.directoryLdif) throw new Error('POSTERN_WATCH_SOURCE=ldif needs POSTERN_DIRECTORY_LDIF');
      const source = await LdifSource.open(bootstrap.directoryLdif);
      watched = { source, reader: () => source.directory };
    } else {
      const directory = openDirectory({ ...bootstrap, directoryLdif: undefined }, OPERATION_TIMEOUT_MS);
      if (!directory) throw new Error('POSTERN_LDAP_URLS: no directory to watch');
      const kind = options.source === 'auto' ? await detect(directory, options.accesslogBase, logger, lifecycle) : options.source;
      const source = kind === 'accesslog' ? new AccesslogSource(directory, options.accesslogBase) : new PollSource(directory, bootstrap.ldapBaseDn);
      watched = { source, reader: () => directory };
    }
    lifecycle.onShutdown('stores', 'directory', () => watched.source.close());
    logger.info({ source: watched.source.kind }, 'config watcher: change source chosen');
    return watched;
  },
};

/** accesslog when the directory answers for its suffix, else poll; asks again while the directory is down. */
async function detect(directory: DirectoryBackend, base: string, logger: Logger, lifecycle: ServiceLifecycle): Promise<'accesslog' | 'poll'> {
  for (;;) {
    try {
      const found = await directory.search('(objectClass=*)', { base, scope: 'base', attributes: ['1.1'] });
      return found.length > 0 ? 'accesslog' : 'poll';
    } catch (error) {
      if (lifecycle.stopping) return 'poll';
      logger.warn({ err: error, retryInMs: DETECT_RETRY_MS }, 'config watcher: cannot ask the directory for its change log yet');
      await new Promise((resolve) => setTimeout(resolve, DETECT_RETRY_MS));
    }
  }
}
