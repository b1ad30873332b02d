/**
 * The single-node stack's demo identity provider for OAuth 2.0 logins (OAUTHBEARER, XOAUTH2): a
 * signing key made at start, its public half where the demo Dovecot servers' oauth2 passdb and the
 * mail proxy's own JWT check (posternOAuthJwks) read it, and a token per demo account, written to
 * `.postern/tokens/<account>.jwt`, valid for a day.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { DovecotOAuth2 } from '../test/harness';

const ISSUER = 'https://idp.postern.test';
const AUDIENCE = 'mail';
const KID = 'demo-1';
/** A demo token lasts the day the stack is likely to run. */
const TOKEN_LIFETIME = '24h';

export interface DemoIdentityProvider {
  /** What the mailbox servers' oauth2 passdb trusts. */
  readonly dovecot: DovecotOAuth2;
  /** The mail proxy's settings: every bearer mechanism on, and its own JWT check. */
  readonly attributes: Record<string, unknown>;
  /** Writes a token for each account; returns the directory. */
  writeTokens(accounts: readonly string[]): Promise<string>;
}

export async function demoIdentityProvider(state: string): Promise<DemoIdentityProvider> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = join(state, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: KID, alg: 'ES256', use: 'sig' }] }));
  return {
    dovecot: { keys: [{ alg: 'ES256', kid: KID, pem: await exportSPKI(publicKey) }], issuer: ISSUER, scope: AUDIENCE },
    attributes: {
      posternImapSaslOAuthBearerEnabled: true,
      posternImapSaslXOAuth2Enabled: true,
      posternPop3SaslOAuthBearerEnabled: true,
      posternPop3SaslXOAuth2Enabled: true,
      posternOAuthJwks: jwks,
      posternOAuthIssuer: ISSUER,
      posternOAuthAudience: AUDIENCE,
    },
    async writeTokens(accounts) {
      const dir = join(state, 'tokens');
      mkdirSync(dir, { recursive: true });
      for (const account of accounts) {
        // Dovecot's local validation wants typ, its scope claim and sub; the proxy checks iss, aud, exp and sub/email.
        const token = await new SignJWT({ email: account, scope: AUDIENCE })
          .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
          .setSubject(account)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt()
          .setExpirationTime(TOKEN_LIFETIME)
          .sign(privateKey);
        writeFileSync(join(dir, `${account}.jwt`), token, { mode: 0o600 });
      }
      return dir;
    },
  };
}
