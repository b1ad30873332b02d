/**
 * One log line per interval for a failure that repeats on every request: during an outage every
 * login fails the same way, and a line per login would make the log the next outage. The line
 * that is written says how many were left out since the last one; metrics count every one.
 */

export class LogLimiter {
  private last = Number.NEGATIVE_INFINITY;
  private left = 0;

  constructor(
    /** Shortest time between two lines (ms). */
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Returns how many calls were left out since the last line when this one should be logged,
   * `undefined` when it should be left out.
   */
  take(): number | undefined {
    const now = this.now();
    if (now - this.last < this.intervalMs) {
      this.left++;
      return undefined;
    }
    this.last = now;
    const suppressed = this.left;
    this.left = 0;
    return suppressed;
  }
}
