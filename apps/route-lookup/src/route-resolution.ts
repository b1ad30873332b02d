/**
 * The resolver and the route cache as the current settings configure them (queries, cache TTL),
 * rebuilt on every reload: a lookup takes the pair in effect when it starts. The remembered domain
 * and server entries are dropped when the config bucket says one changed.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { EffectiveSettings } from '@postern/config';
import { ZimbraDirectory, type DirectoryBackend } from '@postern/directory';
import { MemcachedClient } from '@postern/memcached';
import { RouteCache } from '@postern/route-cache';
import { ConfigFeed } from '@postern/config-store';
import { LOGGER, ServiceSettings, type Logger } from '@postern/service-kit';
import { DIRECTORY_BACKEND, queriesFrom } from './directory.provider';
import { DirectoryMemo } from './directory-memo';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteResolver } from './route-resolver';

/** How long domain and server entries are remembered in-process (see DirectoryMemo). */
const DIRECTORY_MEMO_TTL_MS = 60_000;

@Injectable()
export class RouteResolution {
  private current: RouteResolver;
  private memo!: DirectoryMemo;

  constructor(
    @Inject(DIRECTORY_BACKEND) private readonly backend: DirectoryBackend,
    private readonly memcached: MemcachedClient,
    private readonly metrics: RouteLookupMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    settings: ServiceSettings,
    feed: ConfigFeed,
  ) {
    this.current = this.build(settings.current);
    settings.onReload((result, next) => {
      if (result === 'ok') this.current = this.build(next);
    });
    // A domain or server changed in the directory: its remembered entry must not outlive the event.
    feed.onChange((change) => {
      if (change.scope === 'domain' || change.scope === 'server') this.memo.clear();
      return true;
    });
  }

  /** The resolver for the settings in effect now. */
  get resolver(): RouteResolver {
    return this.current;
  }

  private build(settings: EffectiveSettings): RouteResolver {
    const memo = new DirectoryMemo(new ZimbraDirectory(this.backend, queriesFrom(settings)), DIRECTORY_MEMO_TTL_MS);
    this.memo = memo;
    // TTL 0 means "until invalidated" in Zimbra and in memcached alike.
    const cache = new RouteCache(this.memcached, {
      ttlSeconds: Math.ceil(settings.zimbraReverseProxyCacheEntryTTL / 1000),
      onError: (op, error) => {
        this.metrics.cache.inc({ result: 'error' });
        this.logger.warn({ op, err: error }, 'route cache error (treated as a miss)');
      },
    });
    return new RouteResolver(memo, cache, () => settings);
  }
}
