/**
 * @postern/sasl: the SASL pieces IMAP AUTHENTICATE and POP3 AUTH share: the PLAIN message
 * (RFC 4616), client continuation lines (RFC 9051 §6.2.2, RFC 5034 §4) and strict base64.
 * Pure: no sockets, no timers.
 */
export {
  BASE64,
  decodeSaslPlain,
  encodeSaslPlain,
  encodeSaslResponseLine,
  parseSaslResponseLine,
  SASL_PLAIN_DEFAULTS,
  type SaslPlainCredentials,
  type SaslPlainError,
  type SaslPlainLimits,
  type SaslResponseLine,
} from './sasl';
