/**
 * IMAP command grammar: a framed command in, a typed command (or a reason) out.
 *
 * RFC 9051 §2.2.1 and §9 (`command = tag SP (command-any / command-nonauth / …) CRLF`, tag grammar),
 * §6.1–6.2 (verbs before login); RFC 2971 (ID); RFC 4959 (SASL-IR).
 */
import { ArgReader, ImapSyntaxError, type ImapParseErrorReason } from './arg-reader';
import { IMAP_VERBS, type ImapCommand } from './commands/registry';
import { logWord, type ImapParseContext } from './commands/spec';
import type { ImapFrame } from './framer';
import { IMAP_ID_DEFAULTS, type ImapIdLimits } from './limits';
import { extractTag } from './syntax';

/** The outcome of parsing. Without a tag the session answers `* BAD`, else `tag BAD`. */
export type ImapParseResult =
  | { readonly ok: true; readonly command: ImapCommand }
  | {
      readonly ok: false;
      readonly tag?: string;
      /** Upper-cased verb, when it was readable. */
      readonly verb?: string;
      readonly reason: ImapParseErrorReason;
      /** Human-readable detail (never contains argument values). */
      readonly message: string;
    };

/** Options of {@link parseCommand}. */
export interface ImapParseOptions {
  readonly id?: Partial<ImapIdLimits>;
}

/** Parses a framed command. Never throws. */
export function parseCommand(frame: ImapFrame, options: ImapParseOptions = {}): ImapParseResult {
  const first = frame.segments[0] ?? new Uint8Array(0);
  const tag = extractTag(first);
  if (tag === undefined) return { ok: false, reason: 'bad-tag', message: 'invalid tag' };
  if (frame.segments.some((s) => s.includes(0))) return { ok: false, tag, reason: 'nul-byte', message: 'NUL byte in command' };
  const reader = new ArgReader(frame);
  let verb: string | undefined;
  try {
    reader.atom(true); // the tag, already validated
    reader.sp();
    verb = reader.atom().toUpperCase();
    // The verb must be a whole atom: `N\xd6OP` or `NOOP\rx` is no verb, not an unknown verb `N`.
    if (!reader.atEnd() && reader.peek() !== 0x20) throw new Error('verb not followed by SP');
  } catch {
    return { ok: false, tag, reason: 'bad-verb', message: 'missing or invalid command name' };
  }
  const spec = (IMAP_VERBS as Record<string, (typeof IMAP_VERBS)[keyof typeof IMAP_VERBS] | undefined>)[verb];
  if (!spec) return { ok: true, command: { tag, name: 'UNKNOWN', verb } };
  const context: ImapParseContext = { id: { ...IMAP_ID_DEFAULTS, ...options.id } };
  try {
    const args = spec.parse(reader, context) as object;
    // The tag and name first, the arguments copied after: spread first and then added to, the
    // object got a hidden class of its own on every command in a long-running process.
    return { ok: true, command: { tag, name: spec.name, ...args } as ImapCommand };
  } catch (err) {
    if (err instanceof ImapSyntaxError) return { ok: false, tag, verb, reason: err.reason, message: err.message };
    throw err;
  }
}

/** A loggable form of a command with every secret replaced: `a1 LOGIN alice [redacted]`. */
export function redactCommand(command: ImapCommand): string {
  if (command.name === 'UNKNOWN') return `${logWord(command.tag)} ${logWord(command.verb)}`;
  const spec = IMAP_VERBS[command.name];
  const words = spec.describe(command);
  return [logWord(command.tag), command.name, ...words].join(' ');
}
