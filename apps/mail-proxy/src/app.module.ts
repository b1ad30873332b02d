/** The IMAP/POP3 frontend: listeners, sessions, route and throttle clients, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import { loadBootstrap, resolveSettings, type BootstrapConfig } from '@postern/config';
import { memcachedProvider, metricsProvider, ServiceKitModule, settingsProvider, type Logger } from '@postern/service-kit';
import { MailProxyMetrics } from './mail-proxy.metrics';
import { MailProxyService } from './mail-proxy.service';
import { SessionControl } from './session/session-control';
import { sessionDepsProvider } from './session-deps';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ name: 'mail-proxy', bootstrap, logger })],
      providers: [
        metricsProvider(MailProxyMetrics, (registry) => new MailProxyMetrics(registry)),
        // Defaults < global config < this node's server entry (the config bucket) < the config file's attributes
        // (SIGHUP re-reads the file; hot settings apply to the next session).
        settingsProvider({ load: (layers) => resolveSettings({ ...layers, overrides: loadBootstrap().attributes }) }),
        memcachedProvider,
        sessionDepsProvider,
        MailProxyService,
        SessionControl,
      ],
    };
  }
}
