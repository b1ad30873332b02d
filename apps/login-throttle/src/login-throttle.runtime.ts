/**
 * Everything the service builds from its bootstrap config: the settings (re-read from the config
 * file on SIGHUP: every throttle setting is hot), the memcached client and the policy.
 */
import { loadBootstrap, type BootstrapConfig } from '@postern/config';
import { MemcachedClient } from '@postern/memcached';
import type { Logger } from '@postern/service-kit';
import { CheckClaims } from './check-claims';
import type { LoginThrottleMetrics } from './login-throttle.metrics';
import { MemcachedCounterStore } from './memcached-counter-store';
import { SlidingWindowCounter } from './sliding-window';
import { ThrottlePolicy } from './throttle-policy';
import { resolveThrottleSettings, type ThrottleConfig } from './throttle-settings';

export class LoginThrottleRuntime {
  readonly policy: ThrottlePolicy;
  private current: ThrottleConfig;

  private constructor(
    readonly memcached: MemcachedClient,
    config: ThrottleConfig,
    private readonly logger: Logger,
    private readonly metrics: LoginThrottleMetrics,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.current = config;
    const store = new MemcachedCounterStore(memcached);
    this.policy = new ThrottlePolicy(new SlidingWindowCounter(store), () => this.current, new CheckClaims(store));
  }

  /** Builds the runtime; throws `ConfigError` naming each invalid attribute. */
  static create(logger: Logger, metrics: LoginThrottleMetrics, bootstrap: BootstrapConfig, env: NodeJS.ProcessEnv = process.env): LoginThrottleRuntime {
    const { settings: zimbra, config } = resolveThrottleSettings(bootstrap.attributes);
    // The client's timeouts are read once (Zimbra marks them cold too); everything else is hot.
    const memcached = new MemcachedClient({
      servers: [...bootstrap.memcachedServers],
      timeoutMs: zimbra.zimbraReverseProxyCacheFetchTimeout,
      retryDeadServerMs: zimbra.zimbraReverseProxyCacheReconnectInterval,
      onEvent: (event) => {
        if (event.type === 'server-down') logger.warn({ server: event.server, err: event.error }, 'memcached server down');
        if (event.type === 'server-up') logger.info({ server: event.server }, 'memcached server up');
      },
    });
    logger.info(describe(config), 'throttle settings');
    return new LoginThrottleRuntime(memcached, config, logger, metrics, env);
  }

  get config(): ThrottleConfig {
    return this.current;
  }

  /** Re-reads the config file. An invalid change is refused, logged and counted; the old settings stay. */
  reload(): void {
    try {
      this.current = resolveThrottleSettings(loadBootstrap(this.env).attributes).config;
      this.metrics.reloads.inc({ result: 'ok' });
      this.logger.info(describe(this.current), 'settings reloaded');
    } catch (error) {
      this.metrics.reloads.inc({ result: 'refused' });
      this.logger.error({ err: error }, 'settings reload refused; keeping the previous settings');
    }
  }

  async close(): Promise<void> {
    await this.memcached.close();
  }
}

/** The effective limits, for the log (no secrets here, and no addresses but the whitelist's size). */
function describe(config: ThrottleConfig): Record<string, unknown> {
  return {
    ip: config.ip,
    user: config.user,
    userFailures: config.userFailures,
    ipFailures: config.ipFailures,
    whitelistEntries: config.whitelist.size,
    failClosed: config.failClosed,
  };
}
