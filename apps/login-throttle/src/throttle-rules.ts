/**
 * The throttle's rules as the live settings say: derived at boot and again after every SIGHUP
 * (every throttle setting is hot), the reload counted and the effective limits logged. The
 * policy that applies them is a provider over the shared memcached counters.
 */
import { Inject, Injectable, type FactoryProvider } from '@nestjs/common';
import { MemcachedClient } from '@postern/memcached';
import { LOGGER, ServiceSettings, type Logger } from '@postern/service-kit';
import { CheckClaims, MemcachedCounterStore, SlidingWindowCounter, ThrottlePolicy, throttleConfigOf, type ThrottleConfig } from '@postern/throttle-policy';
import { LoginThrottleMetrics } from './login-throttle.metrics';

@Injectable()
export class ThrottleRules {
  private value: ThrottleConfig;

  constructor(settings: ServiceSettings, metrics: LoginThrottleMetrics, @Inject(LOGGER) logger: Logger) {
    this.value = derive(settings.current);
    logger.info(describe(this.value), 'throttle settings');
    settings.onReload((result, next) => {
      metrics.reloads.inc({ result });
      if (result !== 'ok') return;
      this.value = derive(next);
      logger.info(describe(this.value), 'throttle settings');
    });
  }

  get current(): ThrottleConfig {
    return this.value;
  }
}

/** The policy over the shared counters, always with the rules in effect. */
export const throttlePolicyProvider: FactoryProvider<ThrottlePolicy> = {
  provide: ThrottlePolicy,
  inject: [MemcachedClient, ThrottleRules],
  useFactory: (memcached: MemcachedClient, rules: ThrottleRules) => {
    const store = new MemcachedCounterStore(memcached);
    // Claims make a hedged check count once, whichever instance takes it.
    return new ThrottlePolicy(new SlidingWindowCounter(store, { sealAfterMs: store.sealAfterMs }), () => rules.current, new CheckClaims(store));
  },
};

/** The settings were validated when read (resolveThrottleSettings), the whitelist included. */
const derive = throttleConfigOf;

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
