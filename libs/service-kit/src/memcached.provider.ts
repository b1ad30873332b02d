/**
 * The memcached client every service shares its counters and routes through, as a provider: the
 * servers from the bootstrap config, the timeouts from the settings (read once: Zimbra marks them
 * cold too), server up/down in the log, and closed last when the service stops.
 */
import type { FactoryProvider } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import { ServiceLifecycle } from './lifecycle';
import type { Logger } from './logger';
import { ServiceSettings } from './settings.provider';
import { BOOTSTRAP, LOGGER } from './tokens';

export const memcachedProvider: FactoryProvider<MemcachedClient> = {
  provide: MemcachedClient,
  inject: [BOOTSTRAP, ServiceSettings, LOGGER, ServiceLifecycle],
  useFactory: (bootstrap: BootstrapConfig, settings: ServiceSettings, logger: Logger, lifecycle: ServiceLifecycle) => {
    const client = new MemcachedClient({
      servers: [...bootstrap.memcachedServers],
      timeoutMs: settings.current.zimbraReverseProxyCacheFetchTimeout,
      retryDeadServerMs: settings.current.zimbraReverseProxyCacheReconnectInterval,
      onEvent: (event) => {
        if (event.type === 'server-up') logger.info({ server: event.server }, 'memcached server up');
        if (event.type !== 'server-down') return;
        // While the service stops, a memcached that stops too is expected.
        if (lifecycle.stopping) logger.info({ server: event.server }, 'memcached server down');
        else logger.warn({ server: event.server, err: event.error }, 'memcached server down');
      },
    });
    lifecycle.onShutdown('stores', 'memcached', () => client.close());
    return client;
  },
};
