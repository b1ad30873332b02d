/** Starts the listeners when the application is up; on shutdown stops accepting and drains. */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { loadBootstrap } from '@postern/config';
import { LOGGER, NATS_CONNECTION, type Logger, type NatsConnection } from '@postern/service-kit';
import { createImapSession } from './imap/imap-session';
import { MailListeners } from './listeners';
import { MailProxyRuntime } from './mail-proxy.runtime';
import { createPop3Session } from './pop3/pop3-session';

@Injectable()
export class MailProxyService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly listeners: MailListeners;

  constructor(
    private readonly runtime: MailProxyRuntime,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.listeners = new MailListeners(runtime.deps, { imap: createImapSession, pop3: createPop3Session }, runtime.bootstrap.bindHost);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.listeners.start();
    process.on('SIGHUP', this.onHangup);
  }

  async beforeApplicationShutdown(): Promise<void> {
    process.off('SIGHUP', this.onHangup);
    this.logger.info({ sessions: this.listeners.sessionCount }, 'draining');
    await this.listeners.stop();
    await this.nc.drain();
    await this.runtime.close();
  }

  private readonly onHangup = () => {
    try {
      this.runtime.reload(loadBootstrap().attributes);
    } catch (error) {
      this.logger.error({ err: error }, 'config file unreadable; keeping the previous settings');
    }
  };
}
