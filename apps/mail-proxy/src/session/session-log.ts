/**
 * A session's log: every line carries the session's id and protocol. A client's own mistakes (bad
 * commands, limits crossed, a failed TLS handshake) are logged at info at most a few times a
 * minute per client address, so a client cannot fill the logs; the metrics count every one. Warn
 * and error are for the proxy's own problems.
 */
import { FlatLines, type Logger } from '@postern/service-kit';

export interface SessionLog {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  /** A client's mistake: info, rate-limited per client address (see {@link ClientNoticeLimiter}). */
  clientMistake(fields: Record<string, unknown>, message: string): void;
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
 * of a login's bookkeeping. A class, not an object of closures: a held session keeps its log for
 * its last line, and four strings cost less than five closures and their context.
 */
class SessionLogger implements SessionLog {
  constructor(
    private readonly logger: Logger,
    private readonly lines: FlatLines,
    private readonly sid: string,
    private readonly protocol: string,
    private readonly clientIp: string,
    private readonly limiter: ClientNoticeLimiter,
  ) {}

  debug(fields: Record<string, unknown>, message: string): void {
    this.logger.debug(this.line(fields), message);
  }

  /** A login's and a session's info lines are flat: written directly (flat-lines.ts), the same line as pino's. */
  info(fields: Record<string, unknown>, message: string): void {
    if (this.lines.info({ sid: this.sid, protocol: this.protocol }, fields, message)) return;
    this.logger.info(this.line(fields), message);
  }

  warn(fields: Record<string, unknown>, message: string): void {
    this.logger.warn(this.line(fields), message);
  }

  error(fields: Record<string, unknown>, message: string): void {
    this.logger.error(this.line(fields), message);
  }

  clientMistake(fields: Record<string, unknown>, message: string): void {
    const verdict = this.limiter.admit(this.clientIp);
    if (verdict === 'drop') return;
    this.logger.info(this.line(verdict === 'last' ? { ...fields, suppressedFor: `${WINDOW_MS / 1000}s` } : fields), message);
  }

  /**
   * The two bindings as literal properties, then the fields: a line that began with a spread of
   * a bindings object came out as a slow (dictionary) object, and pino took four times as long to
   * write it (about 23 µs against 6 for a login line).
   */
  private line(fields: Record<string, unknown>): Record<string, unknown> {
    return { sid: this.sid, protocol: this.protocol, ...fields };
  }
}

/** One flat-line writer per logger (the sessions of a process share one). */
const flatLines = new WeakMap<Logger, FlatLines>();

export function sessionLog(logger: Logger, bindings: { sid: string; protocol: string }, clientIp: string, limiter: ClientNoticeLimiter): SessionLog {
  let lines = flatLines.get(logger);
  if (lines === undefined) {
    lines = new FlatLines(logger);
    flatLines.set(logger, lines);
  }
  return new SessionLogger(logger, lines, bindings.sid, bindings.protocol, clientIp, limiter);
}
