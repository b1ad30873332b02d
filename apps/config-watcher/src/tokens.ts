/** Injection tokens of the config-watcher. */

/** The {@link WatcherOptions} from the environment. */
export const WATCHER_OPTIONS = Symbol('WATCHER_OPTIONS');
