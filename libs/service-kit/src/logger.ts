/**
 * Structured logging (pino). Secrets are redacted by field name wherever they appear, so a
 * password that reaches a log call by mistake still never reaches the log.
 */
import pino, { type Logger } from 'pino';

/** Field names whose values are never logged. */
export const REDACTED_FIELDS = ['password', 'pass', 'ldapBindPassword', 'secret', 'authorization', 'token', 'credentials'];

export type { Logger };

export function createLogger(service: string, level: string = 'info', destination?: pino.DestinationStream): Logger {
  const paths = REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);
  return pino(
    {
      name: service,
      level,
      base: { service, pid: process.pid },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

/** A short random id for a session or request: on every log line of it, never a user name. */
export function shortId(length = 10): string {
  let id = '';
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}
