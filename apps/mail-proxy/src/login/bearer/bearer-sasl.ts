/**
 * OAuth 2.0 bearer-token logins (OAUTHBEARER, RFC 7628; XOAUTH2) as both protocols' sessions and
 * upstream logins use them: which mechanisms a protocol offers, the client's response read into a
 * login request (the user it names routes and throttles the login; the token travels as the
 * request's secret), and the response and acknowledgement sent to the mailbox server, which
 * decides.
 */
import type { EffectiveSettings } from '@postern/config';
import type { Route, SecretValue } from '@postern/contracts';
import { bearerErrorAcknowledgement, decodeOAuthBearer, decodeXOAuth2, encodeOAuthBearer, encodeXOAuth2, type BearerMechanism } from '@postern/sasl';
import { Limits } from '../../server/limits';
import type { LoginRequest } from '../login-flow';
import type { MailProtocol } from '../../mail-proxy.metrics';

export type { BearerMechanism };

/** The bearer mechanisms `protocol` offers now, in the order they are announced. */
export function bearerMechanisms(settings: EffectiveSettings, protocol: MailProtocol): BearerMechanism[] {
  const [oauthBearer, xoauth2] =
    protocol === 'imap'
      ? [settings.posternImapSaslOAuthBearerEnabled, settings.posternImapSaslXOAuth2Enabled]
      : [settings.posternPop3SaslOAuthBearerEnabled, settings.posternPop3SaslXOAuth2Enabled];
  return [...(oauthBearer ? (['OAUTHBEARER'] as const) : []), ...(xoauth2 ? (['XOAUTH2'] as const) : [])];
}

/** `mechanism` (as the client named it, upper-cased) when it is a bearer mechanism `protocol` offers now. */
export function offeredBearerMechanism(settings: EffectiveSettings, protocol: MailProtocol, mechanism: string): BearerMechanism | undefined {
  return bearerMechanisms(settings, protocol).find((m) => m === mechanism);
}

/** The client's response as a login request, or undefined when it is no valid message of the mechanism. */
export function bearerLoginRequest(mechanism: BearerMechanism, response: SecretValue): LoginRequest | undefined {
  const limits = { maxUserBytes: Limits.loginBytes, maxTokenBytes: Limits.bearerTokenBytes };
  const decoded = mechanism === 'OAUTHBEARER' ? decodeOAuthBearer(response, limits) : decodeXOAuth2(response, limits);
  if (!decoded.ok) return undefined;
  return { user: decoded.credentials.user, password: decoded.credentials.token, authzid: undefined, bearer: mechanism };
}

/**
 * The response sent to the mailbox server: the same mechanism and token, for the account's
 * upstream name (the name the mailbox server knows it by, as every other login of the proxy).
 */
export function upstreamBearerResponse(mechanism: BearerMechanism, { route, request }: { route: Route; request: LoginRequest }): string {
  const message = { user: route.upstreamUser, token: request.password };
  return mechanism === 'OAUTHBEARER' ? encodeOAuthBearer(message) : encodeXOAuth2(message);
}

/** What the proxy answers the mailbox server's error challenge with, so that it finishes the exchange with its NO. */
export function upstreamBearerAcknowledgement(mechanism: BearerMechanism): string {
  return bearerErrorAcknowledgement(mechanism);
}
