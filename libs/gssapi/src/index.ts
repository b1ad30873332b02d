/**
 * @postern/gssapi: Kerberos for the mail proxy's SASL GSSAPI logins (RFC 4752): the acceptor
 * (a keytab, a security context per client) and the mechanism's server-side exchange.
 */
export { GssapiError, GssContext, GssCredentials } from './acceptor';
export { SaslGssapiServer, type SaslGssapiStep, type SecurityContext } from './sasl-gssapi';
