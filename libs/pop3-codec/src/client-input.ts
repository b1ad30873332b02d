/**
 * What a pre-auth session reads from a POP3 client: each framer event as one input, lines parsed
 * through the verb table, an HTTP request line recognised. Pure; the session picks replies.
 */
import { looksLikeHttp } from '@postern/protocol-sniff';
import { parseSaslResponseLine, type SaslResponseLine } from '@postern/sasl';
import type { Pop3Command, Pop3ParseErrorReason } from './commands';
import type { Pop3FramerEvent } from './framer';
import { parsePop3Command } from './parse-command';

export type Pop3ClientInput =
  | { readonly kind: 'command'; readonly command: Pop3Command }
  /** A line the grammar refused; `reason` names why, never the line's content. */
  | { readonly kind: 'bad'; readonly reason: Pop3ParseErrorReason }
  /** An HTTP request line on the mail port. */
  | { readonly kind: 'http' }
  /** A SASL continuation line (after `+`): base64, `*` to abort, or invalid. */
  | { readonly kind: 'sasl-line'; readonly response: SaslResponseLine }
  /** Always fatal: the framer stopped. */
  | { readonly kind: 'limit'; readonly limit: 'line-too-long'; readonly fatal: true };

/**
 * Verbs after which the following bytes must not be decoded as commands until the session says so:
 * STLS (TLS follows), PASS and AUTH (the rest belongs to the mailbox server, or to the SASL
 * exchange), QUIT (nothing follows).
 */
const HALTING_VERBS: ReadonlySet<string> = new Set(['STLS', 'PASS', 'AUTH', 'QUIT']);

/** True when decoding must halt after this input (see `HALTING_VERBS`; an HTTP line ends the session). */
export function pop3InputHalts(input: Pop3ClientInput): boolean {
  return input.kind === 'sasl-line' || input.kind === 'http' || (input.kind === 'command' && HALTING_VERBS.has(input.command.name));
}

/** One framer event as a session input. Never throws. */
export function toPop3ClientInput(event: Pop3FramerEvent): Pop3ClientInput {
  switch (event.type) {
    case 'raw-line':
      return { kind: 'sasl-line', response: parseSaslResponseLine(event.line) };
    case 'error':
      return { kind: 'limit', limit: event.reason, fatal: event.fatal };
    case 'line': {
      if (looksLikeHttp(event.line)) return { kind: 'http' };
      const parsed = parsePop3Command(event.line);
      return parsed.ok ? { kind: 'command', command: parsed.command } : { kind: 'bad', reason: parsed.reason };
    }
  }
}
