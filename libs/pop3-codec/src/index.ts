/**
 * @postern/pop3-codec: POP3 framing, grammar and encoding for the proxy's pre-authentication phase.
 * Pure: no sockets, no timers. RFC 1939, RFC 2449 (CAPA, limits, codes), RFC 2595 (STLS),
 * RFC 3206 (codes), RFC 5034 (AUTH). SASL lives in @postern/sasl.
 */
export { pop3InputHalts, toPop3ClientInput, type Pop3ClientInput } from './client-input';
export {
  POP3_VERBS,
  pop3CommandInfo,
  type Pop3Command,
  type Pop3ParseErrorReason,
  type Pop3State,
  type Pop3TlsPolicy,
  type Pop3VerbName,
  type Pop3VerbSpec,
} from './commands';
export {
  POP3_AUTH_LINE_MAX,
  encodeAuth,
  encodeAuthPlain,
  encodeCapa,
  encodeContinuation,
  encodeErr,
  encodeMultiline,
  encodeOk,
  encodePass,
  encodeUser,
  encodeXclient,
  encodeXoip,
  type Pop3ResponseCode,
} from './encode';
export { Pop3CommandFramer, type Pop3FramerEvent } from './framer';
export { POP3_FRAMER_DEFAULTS, POP3_RESPONSE_DEFAULTS, type Pop3FramerLimits, type Pop3ResponseLimits } from './limits';
export { parsePop3Command, redactPop3Command, type Pop3ParseResult } from './parse-command';
export { Pop3ResponseReader, type Pop3ResponseEvent } from './response-reader';
export { REDACTED_TEXT, secret, type SecretValue } from './secret';
