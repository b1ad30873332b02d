/**
 * Connecting to NATS with settings suited to a long-running service.
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

export async function connectNats(servers: readonly string[], name: string, logger: Logger): Promise<NatsConnection> {
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
        logger.warn({ nats: status.type, server: 'server' in status ? status.server : undefined }, 'nats connection status');
      }
    }
  })();
  logger.info({ servers }, 'connected to nats');
  return nc;
}
