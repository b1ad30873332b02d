/**
 * @postern/imap-codec: IMAP framing, grammar and encoding for the proxy's pre-authentication phase.
 * Pure: no sockets, no timers. RFC 9051 / 3501, RFC 7888 (LITERAL+), RFC 4959 (SASL-IR),
 * RFC 2971 (ID). SASL lives in @postern/sasl.
 */
export type { ImapParseErrorReason } from './arg-reader';
export { imapInputHalts, toImapClientInput, type ImapClientInput } from './client-input';
export type { AuthenticateArgs } from './commands/authenticate';
export type { IdArgs, ImapIdParam } from './commands/id';
export type { LoginArgs } from './commands/login';
export { IMAP_VERBS, imapCommandInfo, type ImapCommand, type ImapCommandInfo, type ImapVerbName } from './commands/registry';
export type { ImapState, ImapTlsPolicy, ImapVerbSpec } from './commands/spec';
export {
  encodeCapability,
  encodeCommand,
  encodeContinuation,
  encodeIdCommand,
  encodeIdResponse,
  encodeLoginCommand,
  encodeTagged,
  encodeUntagged,
  encodeUntaggedStatus,
  quoteAstring,
  quoteString,
  type ImapArg,
  type ImapCommandChunks,
  type ImapCommandEncodeOptions,
  type ImapTaggedStatus,
} from './encode';
export { ImapCommandFramer, type ImapFrame, type ImapFrameLiteral, type ImapFramerEvent, type ImapFramingErrorReason } from './framer';
export { IMAP_FRAMER_DEFAULTS, IMAP_ID_DEFAULTS, IMAP_RESPONSE_DEFAULTS, type ImapFramerLimits, type ImapIdLimits, type ImapResponseLimits } from './limits';
export { parseCommand, redactCommand, type ImapParseOptions, type ImapParseResult } from './parse-command';
export { ImapResponseReader, parseCapabilities, type ImapResponseCode, type ImapResponseEvent, type ImapUntaggedStatus } from './response-reader';
export { REDACTED_TEXT, secret, type SecretValue } from './secret';
export { IMAP_TAG_MAX_BYTES, isValidTag } from './syntax';
