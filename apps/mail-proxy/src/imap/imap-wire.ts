/**
 * What the IMAP session needs of the codec, in the session's own terms. `imap-wire.adapter.ts`
 * maps `@postern/imap-codec` onto them, so the session reads as protocol logic only.
 */
import type { SaslResponseLine, SecretValue } from '@postern/imap-codec';

export type ImapClientCommand =
  | { readonly name: 'CAPABILITY' }
  | { readonly name: 'NOOP' }
  | { readonly name: 'LOGOUT' }
  | { readonly name: 'STARTTLS' }
  | { readonly name: 'ID'; readonly params: readonly (readonly [string, string | null])[] | null }
  | { readonly name: 'LOGIN'; readonly user: string; readonly password: SecretValue }
  | { readonly name: 'AUTHENTICATE'; readonly mechanism: string; readonly initialResponse: SecretValue | null }
  | { readonly name: 'UNKNOWN'; readonly verb: string };

export type ClientInput =
  | { readonly kind: 'command'; readonly tag: string; readonly command: ImapClientCommand }
  /** A command the grammar refused (bad arguments, bad tag). `message` never holds argument values. */
  | { readonly kind: 'bad'; readonly tag: string | undefined; readonly message: string }
  /** An HTTP request line on the mail port. */
  | { readonly kind: 'http' }
  /** The client announced a synchronizing literal that is acceptable: send a continuation. */
  | { readonly kind: 'continue' }
  /** A SASL continuation line (after `+`): base64, `*` to abort, or invalid. */
  | { readonly kind: 'sasl-line'; readonly response: SaslResponseLine }
  /** A limit crossed. `fatal`: the stream can no longer be framed; say BYE and close. */
  | { readonly kind: 'limit'; readonly limit: 'line-too-long' | 'literal-too-large'; readonly tag: string | undefined; readonly fatal: boolean };

/** An upstream response; `code` is the response code's name (`ALERT`, `CAPABILITY`), `codeText` what follows it. */
export type UpstreamEvent =
  | { readonly kind: 'untagged'; readonly status: string | undefined; readonly code: string | undefined; readonly codeText: string | undefined; readonly text: string; readonly raw: Uint8Array }
  | { readonly kind: 'tagged'; readonly tag: string; readonly status: string; readonly code: string | undefined; readonly codeText: string | undefined; readonly text: string; readonly raw: Uint8Array }
  | { readonly kind: 'continuation'; readonly text: string; readonly raw: Uint8Array };
