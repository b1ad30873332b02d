/**
 * Whether a NATS connection is up right now, from its status events.
 *
 * While the connection is down nats.js buffers outgoing messages until it reconnects, so a request
 * sent then waits for its whole timeout. A requester that asks {@link NatsLink.up} first falls back
 * at once instead, and one already waiting is told by {@link NatsLink.onDown} the moment the
 * connection drops (its reply would never come: replies are not redelivered after a reconnect).
 *
 * Down: from `disconnect` (the socket closed), `staleConnection` (the server stopped answering
 * pings) or `forceReconnect`, until `reconnect` (subscriptions are sent again before that event).
 * Closed for good on `close`.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** The state of one connection, shared by every requester on it. */
export class NatsLink {
  private isUp: boolean;
  private readonly downListeners = new Set<() => void>();

  /** Starts watching `nc` (assumed connected unless it is closed). Use {@link natsLink} for the shared one. */
  constructor(private readonly nc: NatsConnection) {
    this.isUp = !nc.isClosed();
    void this.watch();
  }

  /** True while the connection can carry a request now. */
  get up(): boolean {
    return this.isUp && !this.nc.isClosed();
  }

  /** Calls `listener` once, the next time the connection goes down; returns what removes it. */
  onDown(listener: () => void): () => void {
    this.downListeners.add(listener);
    return () => this.downListeners.delete(listener);
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case 'disconnect':
        case 'staleConnection':
        case 'forceReconnect':
        case 'close':
          this.down();
          break;
        case 'reconnect':
          this.isUp = true;
          break;
        default:
          break;
      }
    }
    // The iterator ends when the connection is closed.
    this.down();
  }

  private down(): void {
    this.isUp = false;
    const listeners = [...this.downListeners];
    this.downListeners.clear();
    for (const listener of listeners) listener();
  }
}

const links = new WeakMap<NatsConnection, NatsLink>();

/**
 * The one {@link NatsLink} of `nc` (created on first use; {@link connectNats} creates it at
 * connect, so the state is known from the start).
 */
export function natsLink(nc: NatsConnection): NatsLink {
  let link = links.get(nc);
  if (!link) {
    link = new NatsLink(nc);
    links.set(nc, link);
  }
  return link;
}
