/**
 * The memcached work any proxy with shared throttle counters and a shared route cache must do per
 * login, on a minimal client: what the floor proxy adds with `--memcached` (floor-proxy.main.ts).
 *
 * Per login, as many round trips as Postern makes with its default throttle (checks decided in the
 * proxy against the shared counters): the address's counter counted at connect, before the
 * greeting; the throttle's window reads and the route read in one write after the LOGIN line; the
 * account's counter counted after the upstream accepted, before the client hears so. The replies
 * are read but decide nothing: this measures the cost of the state, not a policy.
 *
 * The client: one connection, the commands of a turn in one write, replies paired FIFO. Keys are
 * the names as they come (the bench's are plain), where Postern hashes every user-influenced part.
 */
import { connect, type Socket } from 'node:net';

/** The throttle's window (a minute, as Zimbra's login limits count) and the counters' lifetime. */
const WINDOW_MS = 60_000;
const COUNTER_TTL_SECONDS = 120;

type Reply = { readonly kind: 'line'; readonly resolve: (line: string) => void } | { readonly kind: 'values'; readonly resolve: (values: number) => void };

class MinimalMemcached {
  private readonly socket: Socket;
  private readonly waiting: Reply[] = [];
  private buffered: Buffer = Buffer.alloc(0);
  /** Values counted so far in the `get` reply at the head of {@link waiting}. */
  private values = 0;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // No 'error' listener: a floor that lost its memcached has nothing left to measure, and exits.
  }

  line(command: string): Promise<string> {
    return new Promise((resolve) => this.send(command, { kind: 'line', resolve }));
  }

  /** A `get` of one or more keys: resolves with how many were found. */
  get(keys: readonly string[]): Promise<number> {
    return new Promise((resolve) => this.send(`get ${keys.join(' ')}\r\n`, { kind: 'values', resolve }));
  }

  private send(command: string, reply: Reply): void {
    if (this.socket.writableCorked === 0) {
      this.socket.cork();
      process.nextTick(() => this.socket.uncork());
    }
    this.waiting.push(reply);
    this.socket.write(command);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let at = 0;
    for (;;) {
      const head = this.waiting[0];
      const end = this.buffered.indexOf('\r\n', at);
      if (!head || end < 0) break;
      const line = this.buffered.toString('latin1', at, end);
      if (head.kind === 'line') {
        this.waiting.shift();
        at = end + 2;
        head.resolve(line);
        continue;
      }
      if (line === 'END') {
        this.waiting.shift();
        at = end + 2;
        head.resolve(this.values);
        this.values = 0;
        continue;
      }
      // `VALUE key flags bytes`: the data block and its CRLF follow.
      const bytes = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (this.buffered.length < end + 2 + bytes + 2) break;
      this.values++;
      at = end + 2 + bytes + 2;
    }
    this.buffered = this.buffered.subarray(at);
  }
}

/** The per-login memcached work, on one shared connection. */
export class FloorSharedState {
  private readonly memcached: MinimalMemcached;

  constructor(address: string) {
    const [host, port] = address.split(':');
    this.memcached = new MinimalMemcached(host!, Number(port));
  }

  /** At connect, before the greeting: the address's counter goes up. */
  connected(clientIp: string): Promise<void> {
    return this.count(`floor:ip:${clientIp}`);
  }

  /** After the LOGIN line: the windows of the address and the account, and the route, in one write. */
  async loginAsked(clientIp: string, user: string, upstream: string): Promise<void> {
    const window = Math.floor(Date.now() / WINDOW_MS);
    const [, routes] = await Promise.all([
      this.memcached.get([`floor:ip:${clientIp}:${window}`, `floor:ip:${clientIp}:${window - 1}`, `floor:user:${user}:${window}`]),
      this.memcached.get([`floor:route:${user}`]),
    ]);
    // A miss (the user's first login) stores the route, as a lookup would: once per user.
    if (routes === 0) {
      const route = JSON.stringify({ upstream, accountName: user, upstreamUser: user });
      await this.memcached.line(`set floor:route:${user} 0 0 ${Buffer.byteLength(route)}\r\n${route}\r\n`);
    }
  }

  /** After the upstream accepted the login: the account's counter goes up. */
  loggedIn(user: string): Promise<void> {
    return this.count(`floor:user:${user}`);
  }

  private async count(prefix: string): Promise<void> {
    const key = `${prefix}:${Math.floor(Date.now() / WINDOW_MS)}`;
    const counted = await this.memcached.line(`incr ${key} 1\r\n`);
    // The first count of a window creates it: one more round trip, once a minute per key.
    if (counted === 'NOT_FOUND') await this.memcached.line(`add ${key} 0 ${COUNTER_TTL_SECONDS} 1\r\n1\r\n`);
  }
}
