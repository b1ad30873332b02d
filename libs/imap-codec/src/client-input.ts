/**
 * What a pre-auth session reads from an IMAP client: each framer event as one input, commands
 * parsed through the verb table, an HTTP request line recognised. Pure; the session picks replies.
 */
import { looksLikeHttp } from '@postern/protocol-sniff';
import { parseSaslResponseLine, type SaslResponseLine } from '@postern/sasl';
import type { ImapCommand } from './commands/registry';
import type { ImapFramerEvent } from './framer';
import { parseCommand } from './parse-command';

export type ImapClientInput =
  | { readonly kind: 'command'; readonly command: ImapCommand }
  /** A command the grammar refused (bad arguments, bad tag). `message` never holds argument values. */
  | { readonly kind: 'bad'; readonly tag: string | undefined; readonly message: string }
  /** An HTTP request line on the mail port. */
  | { readonly kind: 'http' }
  /** The client announced an acceptable synchronizing literal: the session sends a continuation. */
  | { readonly kind: 'continue' }
  /** A SASL continuation line (after `+`): base64, `*` to abort, or invalid. */
  | { readonly kind: 'sasl-line'; readonly response: SaslResponseLine }
  /** A limit crossed. `fatal`: the stream can no longer be framed; say BYE and close. */
  | { readonly kind: 'limit'; readonly limit: 'line-too-long' | 'literal-too-large'; readonly tag: string | undefined; readonly fatal: boolean };

/**
 * Verbs after which the following bytes must not be decoded as commands until the session says so:
 * STARTTLS (TLS follows), LOGIN and AUTHENTICATE (the rest belongs to the mailbox server, or to the
 * SASL exchange), LOGOUT (nothing follows).
 */
const HALTING_VERBS: ReadonlySet<string> = new Set(['STARTTLS', 'LOGIN', 'AUTHENTICATE', 'LOGOUT']);

/** True when decoding must halt after this input (see `HALTING_VERBS`; an HTTP line ends the session). */
export function imapInputHalts(input: ImapClientInput): boolean {
  return input.kind === 'sasl-line' || input.kind === 'http' || (input.kind === 'command' && HALTING_VERBS.has(input.command.name));
}

/** One framer event as a session input. Never throws. */
export function toImapClientInput(event: ImapFramerEvent): ImapClientInput {
  switch (event.type) {
    case 'continue':
      return { kind: 'continue' };
    case 'raw-line':
      return { kind: 'sasl-line', response: parseSaslResponseLine(event.line) };
    case 'error':
      return event.reason === 'bad-literal'
        ? { kind: 'bad', tag: event.tag, message: 'Invalid literal' }
        : { kind: 'limit', limit: event.reason, tag: event.tag, fatal: event.fatal };
    case 'command': {
      const first = event.frame.segments[0];
      if (first && looksLikeHttp(first)) return { kind: 'http' };
      const parsed = parseCommand(event.frame);
      return parsed.ok ? { kind: 'command', command: parsed.command } : { kind: 'bad', tag: parsed.tag, message: parsed.message };
    }
  }
}
