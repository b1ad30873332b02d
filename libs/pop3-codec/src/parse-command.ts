/**
 * POP3 command grammar: `keyword [SP arguments]` (RFC 1939 §3: case-insensitive keywords, single
 * SPACE separators; RFC 2449 §3 allows keywords beyond four characters for extensions).
 */
import { POP3_VERBS, Pop3SyntaxError, logWord, type Pop3Command, type Pop3ParseErrorReason } from './commands';

/** The outcome of parsing one line. The session answers `-ERR` on failure. */
export type Pop3ParseResult =
  { readonly ok: true; readonly command: Pop3Command } | { readonly ok: false; readonly keyword?: string; readonly reason: Pop3ParseErrorReason };

/** Parses a command line (line end removed). Never throws. */
export function parsePop3Command(line: Uint8Array): Pop3ParseResult {
  // NUL and CR are never data in a POP3 command; other control bytes would reach logs.
  for (const b of line) if (b < 0x20 || b === 0x7f) return { ok: false, reason: 'bad-characters' };
  const sp = line.indexOf(0x20);
  const keywordBytes = sp < 0 ? line : line.subarray(0, sp);
  const keyword = Buffer.from(keywordBytes).toString('latin1').toUpperCase();
  if (!/^[A-Z0-9-]{1,40}$/.test(keyword)) return { ok: false, reason: 'bad-keyword' };
  const spec = (POP3_VERBS as Record<string, (typeof POP3_VERBS)[keyof typeof POP3_VERBS] | undefined>)[keyword];
  if (!spec) return { ok: true, command: { name: 'UNKNOWN', keyword } };
  try {
    return { ok: true, command: spec.parse(sp < 0 ? null : line.subarray(sp + 1)) };
  } catch (err) {
    if (err instanceof Pop3SyntaxError) return { ok: false, keyword, reason: err.reason };
    throw err;
  }
}

/** A loggable form with secrets replaced: `PASS [redacted]`, `USER alice`. */
export function redactPop3Command(command: Pop3Command): string {
  if (command.name === 'UNKNOWN') return logWord(command.keyword);
  return [command.name, ...POP3_VERBS[command.name].describe(command)].join(' ');
}
