/**
 * Structured logging (pino). Secrets never reach the log, twice over: passwords and SASL responses
 * travel as `SecretValue`s (contracts), which print `[redacted]` at any depth; and fields named
 * like secrets are redacted by name, at the top level and inside the objects services log
 * ({@link REDACTED_CONTAINERS}). Named paths, not wildcards: pino's wildcard redaction costs about
 * eight times the rest of a log line.
 *
 * Lines go to standard output once per event-loop turn ({@link TurnBufferedOutput}): a busy
 * proxy writes the lines of many sessions with one system call, an idle one writes each line at
 * the end of the turn that logged it, and nothing waits on a thread pool.
 *
 * On a terminal a line reads as text ({@link formatLogLine}: time, service, level, message, then
 * the fields as key=value); elsewhere, for log shippers, it stays JSON ({@link logFormat}).
 */
import { writeSync } from 'node:fs';
import { ConfigError } from '@postern/config';
import pino, { type Logger } from 'pino';

/** Field names whose values are never logged. */
export const REDACTED_FIELDS = ['password', 'pass', 'ldapBindPassword', 'masterAuthPassword', 'secret', 'authorization', 'token', 'credentials'];
/** The objects whose fields are also redacted by name (one level down). */
export const REDACTED_CONTAINERS = ['err', 'error', 'request', 'config', 'bootstrap', 'options', 'settings', 'headers'];

export type { Logger };

/**
 * A logger for `service`: JSON lines with `service`, `pid` and `bindings` on each, to `destination`
 * (when not given: standard output, buffered per turn, as text when {@link logFormat} says so).
 */
export function createLogger(service: string, level: string = 'info', destination?: pino.DestinationStream, bindings: Record<string, unknown> = {}): Logger {
  const paths = REDACTED_FIELDS.flatMap((f) => [f, ...REDACTED_CONTAINERS.map((c) => `${c}.${f}`)]);
  const output = destination ?? consoleOutput(TurnBufferedOutput.stdout(), logFormat(), process.stdout.isTTY === true);
  const logger = pino(
    {
      name: service,
      level,
      base: { service, pid: process.pid, ...bindings },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    output,
  );
  return logger;
}

/** How log lines are written: JSON (for log shippers) or text (for a person at a terminal). */
export type LogFormat = 'json' | 'text';

/**
 * The format of standard output's lines: `POSTERN_LOG_FORMAT` when it says `json` or `text`,
 * otherwise text on a terminal and JSON anywhere else (a pipe, a file, a container's log). Any
 * other value is a {@link ConfigError}: a service refuses to start on it (exit 78).
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, terminal: boolean = process.stdout.isTTY === true): LogFormat {
  const asked = env.POSTERN_LOG_FORMAT;
  if (asked === 'json' || asked === 'text') return asked;
  if (asked !== undefined && asked !== '')
    throw new ConfigError([
      new Error(`POSTERN_LOG_FORMAT: invalid value ${JSON.stringify(asked)}; accepted: json, text (unset: text on a terminal, else json)`),
    ]);
  return terminal ? 'text' : 'json';
}

/** `output` as is for JSON; for text, each line formatted on its way in (the level coloured when `colour`). */
export function consoleOutput(output: TurnBufferedOutput, format: LogFormat, colour: boolean): pino.DestinationStream {
  if (format === 'json') return output;
  const text = {
    write: (line: string) => output.write(formatLogLine(line, { colour })),
    // pino's flush() (before an exit) reaches the buffer through this.
    flush: output.flush,
  };
  return text;
}

/** pino's level numbers, as a person reads them, with the terminal colour of each (SGR codes). */
const LEVELS: Record<number, { name: string; colour: number }> = {
  10: { name: 'TRACE', colour: 90 },
  20: { name: 'DEBUG', colour: 36 },
  30: { name: 'INFO', colour: 32 },
  40: { name: 'WARN', colour: 33 },
  50: { name: 'ERROR', colour: 31 },
  60: { name: 'FATAL', colour: 35 },
};
/** Where the level stands on an access line of the web proxy. */
const ACCESS = { name: 'HTTP', colour: 0 };
/** The longest service name (config-watcher): the columns after it line up. */
const SERVICE_WIDTH = 14;
/** The fields every line has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service', 'name', 'pid']);
/** A stack's lines, under the line that logged it. */
const STACK_INDENT = '    ';

/**
 * One JSON log line as a person reads it, as nginx's and Dovecot's logs read:
 * `14:03:07.412 mail-proxy     INFO  login ok session=k3x9 user=alice@example.com`, nested
 * fields as `a.b=value`, strings quoted when they hold a space, an error's stack indented on the
 * lines below. The web proxy's access lines (`"msg":"access"`, no level: they are not pino's)
 * read the same way, under `web-proxy` with `HTTP` where the level stands. Any other line (not
 * JSON, or without a level) is returned as is.
 */
export function formatLogLine(line: string, options: { colour?: boolean } = {}): string {
  const newline = line.endsWith('\n') ? '\n' : '';
  const body = newline ? line.slice(0, -1) : line;
  let record: unknown;
  try {
    record = body.startsWith('{') ? JSON.parse(body) : undefined;
  } catch {
    record = undefined;
  }
  if (!isRecord(record)) return line;
  const access = record.level === undefined && record.msg === 'access';
  if (typeof record.level !== 'number' && !access) return line;
  const level = access ? ACCESS : (LEVELS[record.level as number] ?? { name: `L${String(record.level)}`, colour: 0 });
  const levelText = level.name.padEnd(5);
  const service = typeof record.service === 'string' ? record.service : typeof record.name === 'string' ? record.name : access ? 'web-proxy' : '';
  const fields: string[] = [];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(record)) if (!HEAD_FIELDS.has(key)) flatten(key, value, fields, stacks);
  const head = [
    clockTime(record.time),
    service.padEnd(SERVICE_WIDTH),
    options.colour && level.colour ? `\x1b[${level.colour}m${levelText}\x1b[0m` : levelText,
    typeof record.msg === 'string' ? record.msg : '',
  ].join(' ');
  const text = fields.length > 0 ? `${head} ${fields.join(' ')}` : head;
  const below = stacks.flatMap((stack) => stack.split('\n').map((l) => `\n${STACK_INDENT}${l}`)).join('');
  return `${text.trimEnd()}${below}${newline}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** HH:MM:SS.mmm in local time (as nginx and Dovecot write theirs), from pino's ISO time or epoch milliseconds. */
function clockTime(time: unknown): string {
  const date = typeof time === 'string' || typeof time === 'number' ? new Date(time) : undefined;
  if (!date || Number.isNaN(date.getTime())) return '--:--:--.---';
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** `key=value` pairs of `value` into `fields`, nested objects by dotted key; an error's stack into `stacks`. */
function flatten(key: string, value: unknown, fields: string[], stacks: string[]): void {
  if (isRecord(value)) {
    // pino's error serializer: { type, message, stack, ...own fields }; the message stays on the line.
    const error = typeof value.stack === 'string';
    if (error) {
      stacks.push(value.stack as string);
      fields.push(`${key}=${scalar(value.message ?? value.type)}`);
    }
    const entries = Object.entries(value).filter(([k]) => !error || (k !== 'stack' && k !== 'message' && k !== 'type'));
    if (!error && entries.length === 0) fields.push(`${key}={}`);
    for (const [k, v] of entries) flatten(`${key}.${k}`, v, fields, stacks);
    return;
  }
  fields.push(`${key}=${scalar(value)}`);
}

/** A value as it reads after `=`: bare when it is one word, JSON-quoted when not (spaces, quotes, nothing). */
function scalar(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return value.map((v) => (isRecord(v) || Array.isArray(v) ? JSON.stringify(v) : scalar(v))).join(',') || '[]';
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

/** Bytes held before a write even within a turn, so a burst of logging cannot grow memory without bound. */
const TURN_BUFFER_MAX_BYTES = 64 * 1024;

/**
 * A pino destination that gathers the lines of one event-loop turn and writes them with one
 * synchronous write after it (setImmediate), and at exit. A full pipe is waited for (as pino's own
 * synchronous destination does); a closed one drops the lines (nobody is reading them).
 */
export class TurnBufferedOutput implements pino.DestinationStream {
  private static standardOutput: TurnBufferedOutput | undefined;
  private parts: string[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly fd: number) {
    process.on('exit', this.flush);
  }

  /** The one instance for standard output (every logger of the process shares it). */
  static stdout(): TurnBufferedOutput {
    return (TurnBufferedOutput.standardOutput ??= new TurnBufferedOutput(1));
  }

  write(line: string): void {
    this.parts.push(line);
    this.bytes += line.length;
    if (this.bytes >= TURN_BUFFER_MAX_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes what is held, and no longer writes at exit (the caller closes the file after this). */
  close(): void {
    this.flush();
    process.off('exit', this.flush);
  }

  /** Writes what is held now (`done`: pino's flush callback). */
  readonly flush = (done?: unknown): void => {
    this.scheduled = false;
    if (this.parts.length > 0) {
      const data = Buffer.from(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''), 'utf8');
      this.parts = [];
      this.bytes = 0;
      writeFully(this.fd, data);
    }
    if (typeof done === 'function') (done as () => void)();
  };
}

const waitCell = new Int32Array(new SharedArrayBuffer(4));

function writeFully(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN')
        Atomics.wait(waitCell, 0, 0, 1); // a full non-blocking pipe: wait for the reader
      else return; // EPIPE and kin: the reader is gone
    }
  }
}

const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
/** Random bytes drawn 4 KiB at a time: one call into the CSPRNG per few hundred ids, not one per id. */
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let taken = 0;

/** A short random id for a session or request: on every log line of it, never a user name. */
export function shortId(length = 10): string {
  if (taken + length > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(Math.max(POOL_BYTES, length)));
    taken = 0;
  }
  let id = '';
  // 32 letters: each byte modulo 32 is uniform.
  for (let i = taken; i < taken + length; i++) id += ID_ALPHABET[pool[i]! % ID_ALPHABET.length];
  taken += length;
  return id;
}
