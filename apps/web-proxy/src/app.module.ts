/** The HTTP frontend: its listener, the route client, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import { loadBootstrap, resolveSettings, type BootstrapConfig } from '@postern/config';
import { memcachedProvider, metricsProvider, ServiceKitModule, settingsProvider, type Logger } from '@postern/service-kit';
import { WebProxyMetrics } from './web-proxy.metrics';
import { WebProxyService } from './web-proxy.service';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ name: 'web-proxy', bootstrap, logger })],
      providers: [
        metricsProvider(WebProxyMetrics, (registry) => new WebProxyMetrics(registry)),
        // Defaults < global config < this node's server entry (the config bucket) < the config file's attributes
        // (SIGHUP re-reads the file; hot settings apply to the next request).
        settingsProvider({ load: (layers) => resolveSettings({ ...layers, overrides: loadBootstrap().attributes }) }),
        memcachedProvider,
        WebProxyService,
      ],
    };
  }
}
