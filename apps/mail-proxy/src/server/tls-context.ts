/** The frontend's TLS: the default certificate for IMAPS, POP3S and STARTTLS. */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

/** TLS 1.2 and 1.3 only (Zimbra's default `zimbraReverseProxySSLProtocols`). */
export const MIN_TLS_VERSION = 'TLSv1.2' as const;

export function loadTlsContext(certFile: string, keyFile: string): SecureContext {
  return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: MIN_TLS_VERSION });
}
