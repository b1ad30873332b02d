/**
 * SASL GSSAPI (Kerberos, RFC 4752) at the mail proxy, for IMAP AUTHENTICATE and POP3 AUTH alike:
 * the proxy's service credentials per protocol (keytab and principal from the settings), and the
 * exchange that turns a client's ticket into a verified principal and an optional authorization
 * identity. The login that follows is the ordinary one (route by principal, throttle, upstream),
 * made with the mailbox servers' master user for the principal's account (see login-flow.ts).
 *
 * Zimbra's proxy does the same with Cyrus SASL (service `imap`/`pop`, the proxy's host name) and
 * logs in upstream with its master credentials; Dovecot's master users accept SASL PLAIN with the
 * account as authorization identity.
 */
import { hostname } from 'node:os';
import type { EffectiveSettings } from '@postern/config';
import { secret, type SecretValue } from '@postern/contracts';
import { GssCredentials, SaslGssapiServer, type SecurityContext } from '@postern/gssapi';
import { BASE64 } from '@postern/sasl';
import { Limits } from '../server/limits';
import type { LoginRequest } from './login-flow';
import type { MailProtocol } from '../mail-proxy.metrics';
import type { SaslFailure } from '../session/mail-session';

/** Service credentials: a security context per client login. */
export interface ServiceCredentials {
  context(): SecurityContext;
}

/** What a session needs for GSSAPI: the service credentials and the master login. */
export interface GssapiPort {
  /** The service credentials for a protocol; throws when the keytab has no key for its principal. */
  credentials(protocol: MailProtocol): ServiceCredentials;
  /** The master user's secret (a bootstrap value); undefined when not configured. */
  readonly masterPassword: SecretValue | undefined;
}

/** Service credentials as the settings say, acquired once per keytab and principal. */
export function gssapiPort(settings: () => EffectiveSettings, masterPassword: string | undefined): GssapiPort {
  const acquired = new Map<string, GssCredentials>();
  return {
    credentials(protocol) {
      const s = settings();
      const principal =
        (protocol === 'imap' ? s.posternKrb5ImapServicePrincipal : s.posternKrb5Pop3ServicePrincipal) ||
        `${protocol === 'imap' ? 'imap' : 'pop'}/${hostname()}`;
      const key = `${s.posternKrb5Keytab}\n${principal}`;
      let credentials = acquired.get(key);
      if (!credentials) {
        credentials = GssCredentials.acquire(s.posternKrb5Keytab, principal);
        acquired.set(key, credentials);
      }
      return credentials;
    },
    masterPassword: masterPassword === undefined || masterPassword === '' ? undefined : secret(masterPassword),
  };
}

/** How a GSSAPI exchange ended. */
export type GssapiOutcome =
  | { readonly kind: 'authenticated'; readonly principal: string; readonly authzid: string | undefined }
  /** The ticket or a message was refused (expired, replayed, another service's, forged): MIT's words in `reason`. */
  | { readonly kind: 'rejected'; readonly reason: string }
  | SaslFailure;

/**
 * Runs the exchange: the initial response (or an empty challenge asking for one), then challenge
 * and response until the security context and the security layer are agreed.
 */
export async function gssapiExchange(
  credentials: ServiceCredentials,
  initialResponse: SecretValue | null,
  roundTrip: (challengeBase64: string) => Promise<SecretValue | SaslFailure>,
): Promise<GssapiOutcome> {
  const server = new SaslGssapiServer(credentials.context());
  try {
    let response = initialResponse ?? (await roundTrip(''));
    for (let responses = 1; ; responses++) {
      if (typeof response === 'string') return response;
      const text = response.reveal();
      if (!BASE64.test(text)) return 'invalid-line';
      if (responses > Limits.gssapiResponses) return { kind: 'rejected', reason: 'too many GSSAPI steps' };
      const step = server.step(Buffer.from(text, 'base64'));
      if (step.kind === 'failed') return { kind: 'rejected', reason: step.reason };
      if (step.kind === 'done') return { kind: 'authenticated', principal: step.principal, authzid: step.authzid };
      response = await roundTrip(step.data.toString('base64'));
    }
  } finally {
    server.dispose();
  }
}

/** The login for a verified principal: routed by it, made upstream by the master user. */
export function gssapiLoginRequest(settings: EffectiveSettings, masterPassword: SecretValue, principal: string, authzid: string | undefined): LoginRequest {
  return { user: settings.posternMasterAuthUser, password: masterPassword, authzid, principal };
}
