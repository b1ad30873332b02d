/** The login throttle service: NATS responder, shared counters in memcached, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { connectNats, createRegistry, HEALTH_CHECKS, LOGGER, METRICS_REGISTRY, ObservabilityController, type HealthCheck, type Logger, type NatsConnection } from '@postern/service-kit';
import type { Registry } from 'prom-client';
import { LoginThrottleMetrics } from './login-throttle.metrics';
import { LoginThrottleRuntime } from './login-throttle.runtime';
import { LoginThrottleService, NATS_CONNECTION } from './login-throttle.service';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      controllers: [ObservabilityController],
      providers: [
        { provide: LOGGER, useValue: logger },
        { provide: METRICS_REGISTRY, useFactory: () => createRegistry('login-throttle') },
        { provide: LoginThrottleMetrics, useFactory: (registry: Registry) => new LoginThrottleMetrics(registry), inject: [METRICS_REGISTRY] },
        {
          provide: LoginThrottleRuntime,
          useFactory: (metrics: LoginThrottleMetrics) => LoginThrottleRuntime.create(logger, metrics, bootstrap),
          inject: [LoginThrottleMetrics],
        },
        { provide: NATS_CONNECTION, useFactory: () => connectNats(bootstrap.natsUrls, 'login-throttle', logger) },
        {
          // memcached is not a health condition: while it is down the service still answers (fail open or closed, by config).
          provide: HEALTH_CHECKS,
          useFactory: (nc: NatsConnection): HealthCheck[] => [{ name: 'nats', check: () => !nc.isClosed() && !nc.isDraining() }],
          inject: [NATS_CONNECTION],
        },
        LoginThrottleService,
      ],
    };
  }
}
