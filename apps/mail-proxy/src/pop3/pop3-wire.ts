/** What the POP3 session needs of the codec, in the session's own terms (adapter: pop3-wire.adapter.ts). */
import type { SaslResponseLine, SecretValue } from '@postern/imap-codec';

export type Pop3ClientCommand =
  | { readonly name: 'CAPA' }
  | { readonly name: 'USER'; readonly user: string }
  | { readonly name: 'PASS'; readonly password: SecretValue }
  /** `AUTH` alone (mechanism null) lists the mechanisms. */
  | { readonly name: 'AUTH'; readonly mechanism: string | null; readonly initialResponse: SecretValue | null }
  | { readonly name: 'APOP' }
  | { readonly name: 'STLS' }
  | { readonly name: 'NOOP' }
  | { readonly name: 'QUIT' }
  | { readonly name: 'UNKNOWN'; readonly verb: string };

export type Pop3Input =
  | { readonly kind: 'command'; readonly command: Pop3ClientCommand }
  /** A line the grammar refused; `reason` names why, never the line's content. */
  | { readonly kind: 'bad'; readonly reason: string }
  /** An HTTP request line on the mail port. */
  | { readonly kind: 'http' }
  | { readonly kind: 'sasl-line'; readonly response: SaslResponseLine }
  | { readonly kind: 'limit'; readonly limit: 'line-too-long'; readonly fatal: boolean };

/** An upstream reply; `code` is the text of a leading `[…]` (`XCLIENT` in Dovecot's greeting, `AUTH`, `SYS/TEMP`). */
export type Pop3UpstreamEvent =
  | { readonly kind: 'ok'; readonly code: string | undefined; readonly text: string; readonly raw: Uint8Array }
  | { readonly kind: 'err'; readonly code: string | undefined; readonly text: string; readonly raw: Uint8Array }
  | { readonly kind: 'continuation'; readonly text: string; readonly raw: Uint8Array };
