/**
 * The mail listeners' life in the service: they start once every provider is ready, /health
 * reports whether any is bound, and on shutdown (the service kit's `serving` step, before NATS
 * and memcached close) they stop accepting and drain the sessions. The listeners and sessions
 * themselves are plain TypeScript: nothing of Nest on the data path.
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { BOOTSTRAP, HealthChecks, ServiceLifecycle, ServiceSettings, type Logger, LOGGER } from '@postern/service-kit';
import type { BootstrapConfig } from '@postern/config';
import { createImapSession } from './imap/imap-session';
import { MailListeners } from './server/listeners';
import { createPop3Session } from './pop3/pop3-session';
import type { SessionDeps } from './session/session';
import { SESSION_DEPS } from './session-deps';

@Injectable()
export class MailProxyService implements OnApplicationBootstrap {
  readonly listeners: MailListeners;

  constructor(
    @Inject(SESSION_DEPS) private readonly deps: SessionDeps,
    @Inject(BOOTSTRAP) bootstrap: BootstrapConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly lifecycle: ServiceLifecycle,
    private readonly settings: ServiceSettings,
    health: HealthChecks,
  ) {
    this.listeners = new MailListeners(deps, { imap: createImapSession, pop3: createPop3Session }, bootstrap.bindHost);
    health.add({ name: 'listeners', check: () => this.listeners.bound.length > 0 });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.listeners.start();
    // A port or a listener switched in the settings (SIGHUP, the config bucket): that listener alone moves.
    this.settings.onReload((result) => {
      if (result === 'ok') void this.listeners.reopenChanged();
    });
    this.lifecycle.onShutdown('serving', 'mail listeners', async () => {
      this.logger.info({ sessions: this.listeners.sessionCount }, 'draining');
      await this.listeners.stop();
      // The refusals counted in windows still open are written now, not lost with the process.
      this.deps.refusals?.flush();
    });
  }
}
