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
