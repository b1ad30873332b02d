/** The login throttle service: NATS responder, shared counters in memcached, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import { loadBootstrap, type BootstrapConfig } from '@postern/config';
import { memcachedProvider, metricsProvider, ServiceKitModule, settingsProvider, type Logger } from '@postern/service-kit';
import { LoginThrottleMetrics } from './login-throttle.metrics';
import { LoginThrottleService } from './login-throttle.service';
import { throttlePolicyProvider, ThrottleRules } from './throttle-rules';
import { resolveThrottleSettings } from '@postern/throttle-policy';

@Module({})
export class AppModule {
  // memcached is not a health condition: while it is down the service still answers (fail open or closed, by config).
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ name: 'login-throttle', bootstrap, logger })],
      providers: [
        metricsProvider(LoginThrottleMetrics, (registry) => new LoginThrottleMetrics(registry)),
        // Global config < this node's server entry (the config bucket) < the config file's attributes; SIGHUP re-reads the file.
        settingsProvider({ load: (layers) => resolveThrottleSettings(loadBootstrap().attributes, layers).settings }),
        memcachedProvider,
        ThrottleRules,
        throttlePolicyProvider,
        LoginThrottleService,
      ],
    };
  }
}
