/**
 * A session's log: every line carries the session's id and protocol. A client's own mistakes (bad
 * commands, limits crossed, a failed TLS handshake) are logged at info at most a few times a
 * minute per client address, so a client cannot fill the logs; the metrics count every one. Warn
 * and error are for the proxy's own problems.
 */
import type { Logger } from '@postern/service-kit';

type LogCall = (fields: Record<string, unknown>, message: string) => void;

export interface SessionLog {
  readonly debug: LogCall;
  readonly info: LogCall;
  readonly warn: LogCall;
  readonly error: LogCall;
  /** A client's mistake: info, rate-limited per client address (see {@link ClientNoticeLimiter}). */
  readonly clientMistake: LogCall;
}

/**
 * Lines per client address per window. Five a minute shows what a client does wrong; a flood of
 * thousands says nothing more, and one line says the rest was held back.
 */
const NOTICES_PER_WINDOW = 5;
const WINDOW_MS = 60_000;
/** Addresses remembered at once: the table is cleared when full, so a spray of addresses costs bounded memory. */
const MAX_ADDRESSES = 10_000;

/** Decides which client-mistake lines are written: a fixed window per address. */
export class ClientNoticeLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perWindow = NOTICES_PER_WINDOW,
    private readonly windowMs = WINDOW_MS,
    private readonly maxAddresses = MAX_ADDRESSES,
  ) {}

  /** `log` to write the line, `last` to write it saying the rest of the window is held back, `drop` otherwise. */
  admit(address: string, now = Date.now()): 'log' | 'last' | 'drop' {
    let window = this.windows.get(address);
    if (!window || now - window.start >= this.windowMs) {
      if (!window && this.windows.size >= this.maxAddresses) this.windows.clear();
      window = { start: now, count: 0 };
      this.windows.set(address, window);
    }
    window.count++;
    if (window.count < this.perWindow) return 'log';
    return window.count === this.perWindow ? 'last' : 'drop';
  }
}

/**
 * The session's log. Not a pino child logger: making one per session cost more CPU than the rest
 * of a login's bookkeeping.
 */
export function sessionLog(logger: Logger, bindings: { sid: string; protocol: string }, clientIp: string, limiter: ClientNoticeLimiter): SessionLog {
  const { sid, protocol } = bindings;
  // The two bindings as literal properties, then the fields: a line that began with a spread of
  // the bindings object came out as a slow (dictionary) object, and pino took four times as long
  // to write it (about 23 µs against 6 for a login line).
  const line = (fields: Record<string, unknown>) => ({ sid, protocol, ...fields });
  return {
    debug: (fields, message) => logger.debug(line(fields), message),
    info: (fields, message) => logger.info(line(fields), message),
    warn: (fields, message) => logger.warn(line(fields), message),
    error: (fields, message) => logger.error(line(fields), message),
    clientMistake: (fields, message) => {
      const verdict = limiter.admit(clientIp);
      if (verdict === 'drop') return;
      logger.info(line(verdict === 'last' ? { ...fields, suppressedFor: `${WINDOW_MS / 1000}s` } : fields), message);
    },
  };
}
