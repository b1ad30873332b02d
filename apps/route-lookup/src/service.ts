/** The route lookup as a service (its module is imported only when it runs). */
import { requireDirectory } from '@postern/config';
import type { ServiceMainOptions } from '@postern/service-kit/main';

export const service: ServiceMainOptions = {
  name: 'route-lookup',
  check: requireDirectory,
  module: async (bootstrap, logger) => (await import('./app.module.js')).AppModule.register(bootstrap, logger),
};
