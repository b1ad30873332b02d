/**
 * The time of a log line as `Date.prototype.toISOString` writes it (pino's isoTime), for lines
 * written by the thousand a second (the mail proxy's per-login lines, the web access log): the part
 * up to the seconds is formatted once per second, the milliseconds appended.
 */

/** The second lines are being written in, and its time up to the milliseconds (`…T20:25:07.`). */
let second = { at: -1, head: '' };

/** The ISO time of `now` (epoch ms, not before 1970). */
export function isoTimeAt(now: number): string {
  const ms = now % 1000;
  const start = now - ms;
  // `YYYY-MM-DDTHH:MM:SS.` is the same for every millisecond of a second.
  if (start !== second.at) second = { at: start, head: new Date(start).toISOString().slice(0, 20) };
  return `${second.head}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** The ISO time now. */
export function isoTimeNow(): string {
  return isoTimeAt(Date.now());
}
