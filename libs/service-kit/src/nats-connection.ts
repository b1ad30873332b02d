/** Connecting to NATS with settings suited to a long-running service, and closing it quietly. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger';

export type { NatsConnection };

export interface NatsConnectionOptions {
  /**
   * True while the service stops: a disconnect then is expected (a single-node stack stops its
   * NATS server too) and is logged at info level instead of as a warning.
   */
  readonly expectingDisconnect?: () => boolean;
}

/** Whether each connection is up, from its status stream (the client exposes no such getter). */
const connected = new WeakMap<NatsConnection, boolean>();

/** True while `nc` is connected to a server (not closed, not between a disconnect and a reconnect). */
export function isNatsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && connected.get(nc) !== false;
}

export async function connectNats(servers: readonly string[], name: string, logger: Logger, options: NatsConnectionOptions = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: [...servers],
    name,
    // Keep trying for ever: a NATS restart must not kill the service; requests fail fast meanwhile.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Fail the first connect quickly so a misconfigured URL is reported at boot.
    timeout: 5000,
    // Without this every request captures two stack traces up front, in case it fails: a
    // measurable share of a frontend's CPU at thousands of requests per second.
    noAsyncTraces: true,
  });
  connected.set(nc, true);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected.set(nc, false);
      if (status.type === 'reconnect') connected.set(nc, true);
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        const fields = { nats: status.type, server: 'server' in status ? status.server : undefined };
        if (options.expectingDisconnect?.()) logger.info(fields, 'nats connection status');
        else logger.warn(fields, 'nats connection status');
      }
    }
  })();
  logger.info({ servers }, 'connected to nats');
  return nc;
}

/**
 * Drains `nc` (pending replies and subscriptions flush) and closes it. When the server is already
 * gone there is nothing to drain: the connection is closed and that is said at info level.
 */
export async function closeNats(nc: NatsConnection, logger: Logger): Promise<void> {
  if (nc.isClosed()) return;
  if (isNatsConnected(nc)) {
    try {
      await nc.drain();
      return;
    } catch (error) {
      if (isNatsConnected(nc)) throw error;
    }
  }
  logger.info('nats server gone before the drain; closing the connection');
  await nc.close();
}
