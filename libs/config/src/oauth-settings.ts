/**
 * The settings of OAuth 2.0 bearer-token logins at the mail proxy (OAUTHBEARER, RFC 7628, and
 * XOAUTH2): Zimbra's proxy has none, so the names are Postern's. Part of the registry
 * (settings.ts spreads them in); kept here as one group an operator reads together.
 */
import { booleanSetting, stringSetting } from './setting';

const gs = 'global+server' as const;

export const OAuthSettings = {
  posternImapSaslOAuthBearerEnabled: booleanSetting({
    attribute: 'posternImapSaslOAuthBearerEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer AUTH=OAUTHBEARER (RFC 7628) on IMAP: the user from the GS2 header routes the login; the mailbox server checks the token.',
  }),
  posternImapSaslXOAuth2Enabled: booleanSetting({
    attribute: 'posternImapSaslXOAuth2Enabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer AUTH=XOAUTH2 on IMAP (the user= field routes the login; the mailbox server checks the token).',
  }),
  posternPop3SaslOAuthBearerEnabled: booleanSetting({
    attribute: 'posternPop3SaslOAuthBearerEnabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer SASL OAUTHBEARER on POP3.',
  }),
  posternPop3SaslXOAuth2Enabled: booleanSetting({
    attribute: 'posternPop3SaslXOAuth2Enabled',
    default: false,
    hot: true,
    scope: gs,
    description: 'Offer SASL XOAUTH2 on POP3.',
  }),
  posternOAuthJwks: stringSetting({
    attribute: 'posternOAuthJwks',
    default: '',
    // An absolute file path or an http(s) URL.
    pattern: /^$|^\/\S*$|^https?:\/\/\S+$/,
    accepted: 'empty, an absolute path of a JWKS file, or an http(s) URL serving one',
    hot: true,
    scope: gs,
    description:
      "The identity provider's signing keys (a JWKS file or URL). When set, the proxy itself checks a bearer token that is a JWT (signature, expiry, posternOAuthIssuer, posternOAuthAudience, and that its sub or email claim is the user the client names) before it reaches a mailbox server; empty: the mailbox server alone checks tokens.",
  }),
  posternOAuthIssuer: stringSetting({
    attribute: 'posternOAuthIssuer',
    default: '',
    hot: true,
    scope: gs,
    description: 'The iss a token must carry (required with posternOAuthJwks).',
  }),
  posternOAuthAudience: stringSetting({
    attribute: 'posternOAuthAudience',
    default: '',
    hot: true,
    scope: gs,
    description: 'An aud a token must carry (required with posternOAuthJwks).',
  }),
} as const;

/** The rule that spans them: a key set with nothing to check the claims against would accept any issuer's tokens. */
export function oauthSettingsProblem(settings: { posternOAuthJwks: string; posternOAuthIssuer: string; posternOAuthAudience: string }): Error | undefined {
  if (settings.posternOAuthJwks === '') return undefined;
  const missing = (['posternOAuthIssuer', 'posternOAuthAudience'] as const).filter((name) => settings[name] === '');
  return missing.length > 0 ? new Error(`posternOAuthJwks: set without ${missing.join(' and ')}; the proxy's token check needs both`) : undefined;
}
