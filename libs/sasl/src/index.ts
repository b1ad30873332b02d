/**
 * @postern/sasl: the SASL pieces IMAP AUTHENTICATE and POP3 AUTH share: the PLAIN message
 * (RFC 4616), the OAuth 2.0 bearer messages (RFC 7628 OAUTHBEARER, XOAUTH2), client continuation
 * lines (RFC 9051 §6.2.2, RFC 5034 §4) and strict base64.
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
export {
  BEARER_DEFAULTS,
  bearerErrorAcknowledgement,
  bearerErrorChallenge,
  decodeOAuthBearer,
  decodeXOAuth2,
  encodeOAuthBearer,
  encodeXOAuth2,
  type BearerCredentials,
  type BearerError,
  type BearerLimits,
  type BearerMechanism,
} from './bearer';
