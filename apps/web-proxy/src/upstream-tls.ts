/**
 * TLS to a mailbox server (`zimbraReverseProxySSLToUpstreamEnabled`), the same for requests,
 * upgrades and health checks: the certificate is verified against the server's own name, the host
 * the directory gives and the proxy connects to, and that name is the SNI (none for an address,
 * RFC 6066 §3). Never the client's `Host`: the public name of a virtual host is not what a mailbox
 * server's certificate says, and a client must not choose what the proxy checks.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

export interface UpstreamTls {
  /** Verify the server's certificate (POSTERN_UPSTREAM_TLS_VERIFY). */
  readonly verify: boolean;
  /** The CA that signed the mailbox servers' certificates, when not a public one (PEM). */
  readonly ca?: string;
}

/** The `tls.connect` options for a mailbox server at `host` (a name, or an address without brackets). */
export function upstreamTlsOptions(host: string, tls: UpstreamTls): ConnectionOptions {
  return {
    host,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    rejectUnauthorized: tls.verify,
    ...(tls.ca ? { ca: tls.ca } : {}),
  };
}

/** Codes of a TLS handshake that failed on the server's certificate (OpenSSL's and Node's). */
const CERTIFICATE_CODES = /^(?:ERR_TLS_CERT_ALTNAME_INVALID|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_|ERR_TLS_)/;

/**
 * A failure as one log line carries it: its code and message, never the error object (a
 * certificate error holds the whole chain, kilobytes of it) nor a stack.
 */
export function failureOf(error: unknown): { code: string; reason: string } {
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : 'ERROR';
  const reason = error instanceof Error ? error.message : String(error);
  return { code, reason: CERTIFICATE_CODES.test(code) ? `certificate refused: ${reason}` : reason };
}
