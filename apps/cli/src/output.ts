/** Printing: aligned tables for people, JSON for scripts (`--json` on every command that prints data). */

export interface Output {
  readonly json: boolean;
}

/** Writes `value` as JSON (one document) on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes one JSON document per line (a stream that may go on, as `events list --follow`). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Writes rows as an aligned table under `headers`. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** A line of progress for people (stderr, so it never mixes with data on stdout). */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
}

export function progressDone(text: string): void {
  process.stderr.write(process.stderr.isTTY ? `\r${text}\n` : `${text}\n`);
}

/** A time given on the command line: ISO 8601, or a duration ago (`10m`, `2h`, `1d`). */
export function parseTime(text: string): Date | undefined {
  const ago = /^(\d+)(s|m|h|d)$/.exec(text);
  if (ago) return new Date(Date.now() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd']);
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
