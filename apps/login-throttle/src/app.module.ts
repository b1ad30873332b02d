/** The login throttle service: NATS responder, shared counters in memcached, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { metricsProvider, serviceModule, type Logger } from '@postern/service-kit';
import { LoginThrottleMetrics } from './login-throttle.metrics';
import { LoginThrottleRuntime } from './login-throttle.runtime';
import { LoginThrottleService } from './login-throttle.service';

@Module({})
export class AppModule {
  // memcached is not a health condition: while it is down the service still answers (fail open or closed, by config).
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return serviceModule({
      module: AppModule,
      name: 'login-throttle',
      natsUrls: bootstrap.natsUrls,
      logger,
      providers: [
        metricsProvider(LoginThrottleMetrics, (registry) => new LoginThrottleMetrics(registry)),
        {
          provide: LoginThrottleRuntime,
          useFactory: (metrics: LoginThrottleMetrics) => LoginThrottleRuntime.create(logger, metrics, bootstrap),
          inject: [LoginThrottleMetrics],
        },
        LoginThrottleService,
      ],
    });
  }
}
