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
 */
import { writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

/** Field names whose values are never logged. */
export const REDACTED_FIELDS = ['password', 'pass', 'ldapBindPassword', 'masterAuthPassword', 'secret', 'authorization', 'token', 'credentials'];
/** The objects whose fields are also redacted by name (one level down). */
export const REDACTED_CONTAINERS = ['err', 'error', 'request', 'config', 'bootstrap', 'options', 'settings', 'headers'];

export type { Logger };

/**
 * A logger for `service`: JSON lines with `service`, `pid` and `bindings` on each, to `destination`
 * (standard output, buffered per turn, when not given).
 */
export function createLogger(service: string, level: string = 'info', destination?: pino.DestinationStream, bindings: Record<string, unknown> = {}): Logger {
  const paths = REDACTED_FIELDS.flatMap((f) => [f, ...REDACTED_CONTAINERS.map((c) => `${c}.${f}`)]);
  const output = destination ?? TurnBufferedOutput.stdout();
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
