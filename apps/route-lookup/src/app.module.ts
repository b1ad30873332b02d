/** The route lookup service: NATS responder, directory, shared cache, /metrics and /health. */
import { Module, type DynamicModule } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import { ZimbraDirectory, type DirectoryBackend } from '@postern/directory';
import { memcachedProvider, metricsProvider, ServiceKitModule, settingsProvider, type Logger } from '@postern/service-kit';
import { DIRECTORY_BACKEND, directoryProvider, loadSettings } from './directory.provider';
import { RouteLookupMetrics } from './route-lookup.metrics';
import { RouteLookupService } from './route-lookup.service';
import { RouteResolution } from './route-resolution';

@Module({})
export class AppModule {
  static register(bootstrap: BootstrapConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ name: 'route-lookup', bootstrap, logger })],
      providers: [
        metricsProvider(RouteLookupMetrics, (registry) => new RouteLookupMetrics(registry)),
        directoryProvider,
        // Every route-lookup setting is hot: SIGHUP, and a change of the global config or this node's
        // server entry in the config bucket, re-read them from the directory itself.
        settingsProvider({ inject: [DIRECTORY_BACKEND], load: (_layers, backend: DirectoryBackend) => loadSettings(new ZimbraDirectory(backend), bootstrap) }),
        memcachedProvider,
        RouteResolution,
        RouteLookupService,
      ],
    };
  }
}
