/** The mail-proxy as a service (its module is imported only when it runs: a cluster primary never does). */
import type { ServiceMainOptions } from '@postern/service-kit/main';

export const service: ServiceMainOptions = {
  name: 'mail-proxy',
  workers: true,
  module: async (bootstrap, logger) => (await import('./app.module.js')).AppModule.register(bootstrap, logger),
};
