/**
 * Connecting to NATS with settings suited to a long-running service, and closing it quietly.
 *
 * Several URLs are one cluster: the client connects to one of them (in random order, so the
 * instances of a service spread over the servers), learns the rest of the cluster from it, and on
 * losing its server reconnects to another and subscribes again (queue groups included) before it
 * reports `reconnect`. The servers must be routed into one cluster (see deploy/), so a request
 * reaches a responder connected to any of them.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger';
import { natsLink } from './nats-link';

export type { NatsConnection };

export interface NatsConnectionOptions {
  /**
   * True while the service stops: a disconnect then is expected (a single-node stack stops its
   * NATS server too) and is logged at info level instead of as a warning.
   */
  readonly expectingDisconnect?: () => boolean;
}

/** True while `nc` is connected to a server (not closed, not between a disconnect and a reconnect). */
export function isNatsConnected(nc: NatsConnection): boolean {
  return natsLink(nc).up;
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
  // Tracked from the first moment: requesters ask it whether the bus is up before they wait on it.
  natsLink(nc);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error' || status.type === 'staleConnection') {
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
