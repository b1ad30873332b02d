/**
 * The login audit: one line (`"msg":"login"`) for every login a client attempts and every one the
 * proxy refuses, as Dovecot's `rip=`/`lip=` lines, so `grep '"rip":"192.0.2.7"'` answers what an
 * address did. A client refused by the IP limit at the greeting attempted a login too (outcome
 * `throttled-ip`); those refusals are what a flood is made of, so they are bounded per client
 * address: the first of a window is written, the rest counted, and when the window closes one
 * line says how many were left out.
 */
import type { Logger } from '@postern/service-kit';

/** Where a login came from and arrived: the fields every audit line starts with. */
export interface AuditEndpoints {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly proxyIp: string;
  /** The TLS version, or `none`. */
  readonly tlsVersion: string;
}

/** rip, rport, lip, tls: Dovecot's names, so one grep reads both logs. */
export function endpointFields(link: AuditEndpoints): { rip: string; rport: number; lip: string; tls: string } {
  return { rip: link.clientIp, rport: link.clientPort, lip: link.proxyIp, tls: link.tlsVersion };
}

/** Refusals written per window and address: the first says what happens; the next thousand say nothing more. */
const WRITTEN_PER_WINDOW = 1;
/** Addresses with an open window at once: past it the oldest window closes early (its summary written), so a spray of addresses costs bounded memory and loses no count. */
const MAX_OPEN_WINDOWS = 10_000;

interface Window {
  readonly rip: string;
  readonly protocol: string;
  readonly start: number;
  readonly end: number;
  written: number;
  suppressed: number;
}

/**
 * Bounds the `throttled-ip` audit lines per client address and protocol: a fixed window opens at
 * an address's first refusal; the refusals after the first of the window are counted, not
 * written; when the window closes, one line (`login refusals left out`) gives the count. The
 * windows are kept in the order they opened, so one timer, set for the oldest, closes them all.
 */
export class RefusalWindows {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    /** The window's length now (a hot setting). */
    private readonly windowMs: () => number,
    private readonly now: () => number = Date.now,
    private readonly maxOpen = MAX_OPEN_WINDOWS,
  ) {}

  /** True when this refusal's audit line is to be written; false when it is counted in its window's summary. */
  admit(rip: string, protocol: string): boolean {
    const key = `${protocol} ${rip}`;
    const now = this.now();
    let window = this.windows.get(key);
    if (window && now >= window.end) {
      this.close(key, window);
      window = undefined;
    }
    if (!window) {
      if (this.windows.size >= this.maxOpen) this.closeOldest();
      window = { rip, protocol, start: now, end: now + this.windowMs(), written: 0, suppressed: 0 };
      this.windows.set(key, window);
      this.schedule();
    }
    if (window.written < WRITTEN_PER_WINDOW) {
      window.written++;
      return true;
    }
    window.suppressed++;
    return false;
  }

  /** Closes every window, writing the summaries still owed (at shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [key, window] of this.windows) this.close(key, window);
  }

  /** Open windows (for tests and bounds). */
  get open(): number {
    return this.windows.size;
  }

  private close(key: string, window: Window): void {
    this.windows.delete(key);
    if (window.suppressed === 0) return;
    this.logger.info(
      {
        rip: window.rip,
        protocol: window.protocol,
        outcome: 'throttled-ip',
        suppressed: window.suppressed,
        since: new Date(window.start).toISOString(),
        seconds: Math.round((Math.min(this.now(), window.end) - window.start) / 1000),
      },
      'login refusals left out',
    );
  }

  private closeOldest(): void {
    const first = this.windows.entries().next();
    if (!first.done) this.close(first.value[0], first.value[1]);
  }

  /** One timer, for the oldest window (the first in the map: windows are added as they open). */
  private schedule(): void {
    if (this.timer) return;
    const first = this.windows.values().next();
    if (first.done) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, first.value.end - this.now()));
    // A window must not keep a draining process alive; shutdown flushes what is open.
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = this.now();
    // From the oldest on, until one is still open. After the window setting shrinks, a newer
    // window may end first: it closes with the older one before it, a little late, never lost.
    for (const [key, window] of this.windows) {
      if (now < window.end) break;
      this.close(key, window);
    }
    this.schedule();
  }
}
