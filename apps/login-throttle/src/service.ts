/** The login throttle as a service (its module is imported only when it runs). */
import type { ServiceMainOptions } from '@postern/service-kit/main';

export const service: ServiceMainOptions = {
  name: 'login-throttle',
  module: async (bootstrap, logger) => (await import('./app.module.js')).AppModule.register(bootstrap, logger),
};
