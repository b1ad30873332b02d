/**
 * Which servers of the web pool may be chosen, as nginx's `max_fails`/`fail_timeout` and an active
 * check decide:
 *
 * - passive: `zimbraMailProxyMaxFails` failed attempts (no connection, no answer) within
 *   `zimbraMailProxyReconnectTimeout` take a server out for that long; a success resets its count;
 * - active: every `posternWebHealthCheckInterval` each server is connected to (TCP, or a TLS
 *   handshake verified as requests verify it when `zimbraReverseProxySSLToUpstreamEnabled`); one
 *   that cannot be reached is out until a check reaches it again.
 *
 * When every server is out, the choice falls back to the hash's own (a request may still succeed
 * where a check failed); `postern_web_upstream_up{upstream}` shows each server's state.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { failureOf, upstreamTlsOptions, type UpstreamTls } from './upstream-tls';
import { splitHostPort } from './web-rules';

export interface HealthSettings {
  readonly maxFails: number;
  readonly failTimeoutMs: number;
}

interface State {
  fails: number;
  firstFailAt: number;
  downUntil: number;
  /** The last active check could not connect. */
  checkFailed: boolean;
}

export class UpstreamHealth {
  private readonly states = new Map<string, State>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: () => HealthSettings,
    /** A server went out or came back, or was checked the first time (`first`); `why` says what took it out. */
    private readonly onChange: (upstream: string, up: boolean, why: string, first: boolean) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  isUp(upstream: string): boolean {
    const state = this.states.get(upstream);
    return state === undefined || (!state.checkFailed && state.downUntil <= this.now());
  }

  /** A request could not be carried to `upstream` (connect refused, timed out, reset); `why`: its code. */
  failed(upstream: string, why: string): void {
    const { maxFails, failTimeoutMs } = this.settings();
    const state = this.state(upstream);
    const now = this.now();
    if (now - state.firstFailAt > failTimeoutMs) {
      state.fails = 0;
      state.firstFailAt = now;
    }
    state.fails++;
    if (maxFails > 0 && state.fails >= maxFails && state.downUntil <= now) {
      state.downUntil = now + failTimeoutMs;
      state.fails = 0;
      this.onChange(upstream, false, `${why}: ${maxFails} failed attempt(s) within ${failTimeoutMs} ms`, false);
    }
  }

  succeeded(upstream: string): void {
    const state = this.states.get(upstream);
    if (state && state.fails > 0) state.fails = 0;
  }

  /**
   * Checks every server of `pool()` now and then every `intervalMs` (0: never), over TLS when
   * `tls()` gives its settings.
   */
  start(pool: () => readonly string[], intervalMs: () => number, tls: () => UpstreamTls | undefined = () => undefined, connectTimeoutMs = 2000): void {
    const round = async () => {
      const upstreamTls = tls();
      await Promise.all(pool().map((upstream) => this.check(upstream, connectTimeoutMs, upstreamTls)));
      const next = intervalMs();
      if (next > 0 && this.timer !== undefined) this.timer = setTimeout(() => void round(), next).unref();
    };
    this.timer = setTimeout(() => void round(), 0).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async check(upstream: string, timeoutMs: number, tls: UpstreamTls | undefined): Promise<void> {
    const [host, port] = splitHostPort(upstream);
    const failure = await new Promise<string | undefined>((resolve) => {
      const socket: Socket = tls ? tlsConnect({ ...upstreamTlsOptions(host, tls), port }) : connect({ host, port });
      const done = (why: string | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(why);
      };
      const timer = setTimeout(() => done('ETIMEDOUT: no connection within the check timeout'), timeoutMs);
      socket.once(tls ? 'secureConnect' : 'connect', () => done(undefined));
      socket.once('error', (error) => {
        const { code, reason } = failureOf(error);
        done(`${code}: ${reason}`);
      });
    });
    const first = !this.states.has(upstream);
    const state = this.state(upstream);
    const wasUp = this.isUp(upstream);
    state.checkFailed = failure !== undefined;
    if (failure === undefined) state.downUntil = 0;
    const up = this.isUp(upstream);
    if (first || wasUp !== up) this.onChange(upstream, up, failure ?? 'the check reached it', first);
  }

  private state(upstream: string): State {
    let state = this.states.get(upstream);
    if (!state) {
      state = { fails: 0, firstFailAt: 0, downUntil: 0, checkFailed: false };
      this.states.set(upstream, state);
    }
    return state;
  }
}
