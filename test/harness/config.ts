/**
 * Reading the config history and the effective config the way the services do (the stream
 * POSTERN_CONFIG and the KV bucket postern-config over a real NATS with JetStream), and waiting
 * for an event to appear there.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ConfigEvent } from '@postern/contracts';
import { ConfigStore, isMalformed, type StoredConfigEvent } from '@postern/config-store';
import { waitFor } from './process';

export interface ConfigView {
  readonly nc: NatsConnection;
  readonly store: ConfigStore;
  /** Every event stored so far, oldest first (malformed ones fail the call). */
  events(from?: number): Promise<StoredConfigEvent[]>;
  /** Waits until an event after sequence `after` matches `match`, and returns it. */
  waitForEvent(what: string, match: (event: ConfigEvent) => boolean, after?: number, timeoutMs?: number): Promise<StoredConfigEvent>;
  close(): Promise<void>;
}

/** Opens the stream and bucket once a watcher has made them (waits for that). */
export async function openConfigView(natsUrl: string): Promise<ConfigView> {
  const nc = await connect({ servers: natsUrl, name: 'test-config-view' });
  let store: ConfigStore | undefined;
  await waitFor('the config stream and bucket', async () => {
    store = await ConfigStore.open(nc, { create: false });
    return true;
  });
  const opened = store!;
  const events = async (from = 1): Promise<StoredConfigEvent[]> => {
    const out: StoredConfigEvent[] = [];
    for await (const stored of opened.events({ sequence: from })) {
      if (isMalformed(stored)) throw new Error(`event ${stored.sequence} is malformed: ${stored.problem}`);
      out.push(stored);
    }
    return out;
  };
  return {
    nc,
    store: opened,
    events,
    async waitForEvent(what, match, after = 0, timeoutMs = 20_000) {
      let found: StoredConfigEvent | undefined;
      await waitFor(
        what,
        async () => {
          found = (await events(after + 1)).find((stored) => match(stored.event));
          return found !== undefined;
        },
        { timeoutMs, intervalMs: 50 },
      );
      return found!;
    },
    async close() {
      await nc.close();
    },
  };
}
