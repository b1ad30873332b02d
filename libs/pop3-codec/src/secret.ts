/** Secrets (passwords, SASL responses) are the contracts' SecretValue, shared by both codecs and the proxy. */
export { REDACTED_TEXT, secret, type SecretValue } from '@postern/contracts';
