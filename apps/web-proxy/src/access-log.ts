/**
 * The web proxy's access log, on by default as nginx's is: one JSON line per request, and one per
 * upgraded connection when it ends, with what an operator greps for (who, which virtual host, what,
 * the answer, bytes both ways, which mailbox server, how it was routed, the protocol, how long).
 *
 * Secrets never reach it: the target's token arguments (`zauthtoken`, `zjwt`, …) are written as
 * `[redacted]`, and no header is logged (so no `Authorization`, no `ZM_AUTH_TOKEN` cookie).
 * Lines go to standard output (gathered per event-loop turn, beside the service log's) or to a
 * file opened for appending (`posternWebAccessLog`; re-opened on SIGHUP, so a rotated file is let
 * go), written off the event loop ({@link FileOutput}) in batches ({@link ACCESS_LOG_BUFFER}): a
 * file system that stalls a write does not stall the requests. When the disk falls that far behind, lines are dropped and counted
 * (`postern_web_access_log_dropped_lines_total`) rather than held without bound; an orderly stop
 * writes every line taken before it ({@link AccessLog.close}).
 */
import { closeSync, openSync } from 'node:fs';
import { FileOutput, formatLogLine, isoTimeNow, LogLimiter, logFormat, TurnBufferedOutput, type DropReason, type Logger } from '@postern/service-kit';

/** One request (or tunnel) as the access log writes it. */
export interface AccessRecord {
  /** The request's id, also on the service log's lines about it. */
  readonly rid: string;
  /** The client's address as believed: a load balancer's PROXY header, a trusted peer's X-Forwarded-For, else the peer. */
  readonly client: string;
  /** The Host (or `:authority`) name, when usable. */
  readonly vhost: string | undefined;
  readonly method: string;
  /** The target with its secrets removed ({@link loggedTarget}). */
  readonly path: string;
  /** The status the client got; 0 when it left before an answer. */
  readonly status: number;
  /** Body bytes from the client (for a tunnel: every byte after its head). */
  readonly bytesIn: number;
  /** Body bytes to the client (for a tunnel: every byte after the answer's head). */
  readonly bytesOut: number;
  /** `host:port` of the mailbox server, or `none` when the proxy answered itself. */
  readonly upstream: string;
  /** How the request was routed (rest, token, pool, …). */
  readonly route: string;
  readonly protocol: 'h1' | 'h2' | 'ws';
  /** From the request's arrival to its last byte (a tunnel: to its close). */
  readonly ms: number;
}

/** Query arguments whose values are credentials (lower case). */
const SECRET_ARGUMENTS = new Set(['zauthtoken', 'zjwt', 'authtoken', 'jwt', 'token', 'access_token', 'password', 'pass', 'secret']);
/** The longest target written; longer ones are cut (a log line is not a place for a 16 KiB URL). */
const MAX_LOGGED_TARGET = 2048;

/** `target` with the value of every credential argument replaced by `[redacted]`, cut to {@link MAX_LOGGED_TARGET}. */
export function loggedTarget(target: string): string {
  const q = target.indexOf('?');
  let text = target;
  if (q >= 0) {
    const args = target
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        return eq > 0 && SECRET_ARGUMENTS.has(pair.slice(0, eq).toLowerCase()) ? `${pair.slice(0, eq)}=[redacted]` : pair;
      });
    text = `${target.slice(0, q)}?${args.join('&')}`;
  }
  return text.length > MAX_LOGGED_TARGET ? `${text.slice(0, MAX_LOGGED_TARGET)}…` : text;
}

const q = JSON.stringify;

/**
 * The JSON line of a record, written out field by field: the same line as JSON.stringify of the
 * record with `time` and `msg` first, without building that object for every request. The id
 * (shortId's letters), the virtual host (hostName's letters, digits, dots and dashes), the route and
 * the protocol (names of ours) need no escaping; what a client or the directory chose is escaped.
 */
export function accessLine(r: AccessRecord): string {
  const vhost = r.vhost === undefined ? '' : `,"vhost":"${r.vhost}"`;
  return (
    `{"time":"${isoTimeNow()}","msg":"access","rid":"${r.rid}","client":${q(r.client)}${vhost},"method":${q(r.method)},` +
    `"path":${q(r.path)},"status":${r.status},"bytesIn":${r.bytesIn},"bytesOut":${r.bytesOut},"upstream":${q(r.upstream)},` +
    `"route":"${r.route}","protocol":"${r.protocol}","ms":${Math.round(r.ms * 10) / 10}}\n`
  );
}

/**
 * Lines gathered before a write to the file: 64 KiB, or whatever came within 100 ms (nginx's
 * `access_log … buffer=64k flush=100ms`). Under load a write carries a few hundred lines; a line
 * reaches the file within a tenth of a second on a quiet proxy.
 */
const ACCESS_LOG_BUFFER = { bytes: 64 * 1024, flushMs: 100 } as const;

/** How long a stop waits for the access log's last lines to reach the disk. */
export const ACCESS_LOG_STOP_WAIT_MS = 5_000;

/** The shortest time between two warnings of dropped lines (each says how many since the last). */
const DROP_WARNING_INTERVAL_MS = 10_000;

export class AccessLog {
  /** The file open now (its setting's value) and its output; standard output needs none of its own. */
  private file: { readonly path: string; readonly fd: number; readonly output: FileOutput } | undefined;
  /** A path that could not be opened: not tried again (nor logged again) until {@link reopen}. */
  private unopenable: string | undefined;
  /** Files let go (reopen) whose last lines are still being written, by their output; closed once they are. */
  private readonly closing = new Map<FileOutput, Promise<void>>();
  /** Lines dropped since the last warning about it. */
  private dropped = 0;
  private readonly dropWarnings = new LogLimiter(DROP_WARNING_INTERVAL_MS);

  constructor(
    /** `posternWebAccessLog`: `stdout`, `off` or an absolute path, read per line. */
    private readonly where: () => string,
    private readonly logger: Logger,
    /** Counts the lines dropped (`postern_web_access_log_dropped_lines_total`). */
    private readonly droppedLines?: { inc(labels: { reason: DropReason }, value: number): void },
  ) {}

  /** Standard output's format, as the service's logger chose it at start. */
  private readonly text = logFormat() === 'text';
  private readonly colour = process.stdout.isTTY === true;

  /** Whether a line would be written now: when not, the caller need not build the record. */
  get enabled(): boolean {
    return this.where() !== 'off';
  }

  write(record: AccessRecord): void {
    const where = this.where();
    if (where === 'off') return;
    const line = accessLine(record);
    // On a terminal (or with POSTERN_LOG_FORMAT=text) it reads as the service's own lines do.
    if (where === 'stdout') return TurnBufferedOutput.stdout().write(this.text ? formatLogLine(line, { colour: this.colour }) : line);
    this.output(where)?.write(line);
  }

  /** Lets the file go, so the next line opens it afresh (SIGHUP: a rotated log is released); it is closed once its lines are written. */
  reopen(): void {
    this.unopenable = undefined;
    if (!this.file) return;
    const { fd, output } = this.file;
    this.file = undefined;
    const closed = output.close().then(() => {
      closeSync(fd);
      this.closing.delete(output);
    });
    this.closing.set(output, closed);
  }

  /**
   * Lets the file go and resolves once every line taken is written and the file closed (an orderly
   * stop), or after `waitMs` when the disk takes nothing more: a hung disk does not hold the stop,
   * and the lines it did not take are dropped, counted and told.
   */
  async close(waitMs = ACCESS_LOG_STOP_WAIT_MS): Promise<void> {
    this.reopen();
    if (this.closing.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, waitMs, 'late')));
    const outcome = await Promise.race([Promise.all(this.closing.values()), late]);
    clearTimeout(timer);
    if (outcome !== 'late') return;
    this.logger.warn({ waitedMs: waitMs }, "web: access log: the disk took no more lines within the stop's wait; the rest are dropped");
    for (const output of this.closing.keys()) output.abandon();
  }

  /** Lines the file's output dropped: counted, and told at most once per {@link DROP_WARNING_INTERVAL_MS}. */
  private readonly onDrop = (lines: number, reason: DropReason, code?: string): void => {
    this.droppedLines?.inc({ reason }, lines);
    this.dropped += lines;
    if (this.dropWarnings.take() === undefined) return;
    const why = reason === 'behind' ? 'the disk is behind' : 'a write failed';
    this.logger.warn({ dropped: this.dropped, reason, ...(code ? { code } : {}) }, `web: access log lines dropped: ${why}`);
    this.dropped = 0;
  };

  private output(path: string): FileOutput | undefined {
    if (this.file?.path === path) return this.file.output;
    if (this.unopenable === path) return undefined;
    this.reopen();
    try {
      const fd = openSync(path, 'a', 0o640);
      this.file = { path, fd, output: new FileOutput(fd, { onDrop: this.onDrop, buffer: ACCESS_LOG_BUFFER }) };
      return this.file.output;
    } catch (error) {
      this.unopenable = path;
      this.logger.error({ path, code: (error as NodeJS.ErrnoException).code }, 'web: access log cannot be opened; lines are dropped until it can');
      return undefined;
    }
  }
}
