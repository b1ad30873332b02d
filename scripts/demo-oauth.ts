/**
 * The single-node stack's demo identity provider for OAuth 2.0 logins (OAUTHBEARER, XOAUTH2): the
 * tests' provider (a signing key made at start, its public half where the demo Dovecot servers'
 * oauth2 passdb and the mail proxy's own JWT check read it) and a token per demo account, written
 * to `.postern/tokens/<account>.jwt`, valid for a day.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdentityProvider, type DovecotOAuth2 } from '../test/harness';

/** A demo token lasts the day the stack is likely to run. */
const TOKEN_LIFETIME_SECONDS = 86_400;

export interface DemoIdentityProvider {
  /** What the mailbox servers' oauth2 passdb trusts. */
  readonly dovecot: DovecotOAuth2;
  /** The mail proxy's settings: every bearer mechanism on, and its own JWT check. */
  readonly attributes: Record<string, unknown>;
  /** Writes a token for each account; returns the directory. */
  writeTokens(accounts: readonly string[]): Promise<string>;
}

export async function demoIdentityProvider(state: string): Promise<DemoIdentityProvider> {
  const idp = await startIdentityProvider(state, { kid: 'demo-1' });
  return {
    dovecot: idp.dovecot,
    attributes: {
      posternImapSaslOAuthBearerEnabled: true,
      posternImapSaslXOAuth2Enabled: true,
      posternPop3SaslOAuthBearerEnabled: true,
      posternPop3SaslXOAuth2Enabled: true,
      posternOAuthJwks: idp.jwksFile,
      posternOAuthIssuer: idp.issuer,
      posternOAuthAudience: idp.audience,
    },
    async writeTokens(accounts) {
      const dir = join(state, 'tokens');
      mkdirSync(dir, { recursive: true });
      for (const account of accounts) {
        writeFileSync(join(dir, `${account}.jwt`), await idp.mint({ user: account, expiresIn: TOKEN_LIFETIME_SECONDS }), { mode: 0o600 });
      }
      return dir;
    },
  };
}
