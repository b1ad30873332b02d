/** Connecting to NATS with settings suited to a long-running service. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger';

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
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        logger.warn({ nats: status.type, server: 'server' in status ? status.server : undefined }, 'nats connection status');
      }
    }
  })();
  logger.info({ servers }, 'connected to nats');
  return nc;
}
