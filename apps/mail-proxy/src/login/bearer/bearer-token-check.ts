/**
 * The proxy's own check of a bearer token that is a JWT (RFC 7519), when `posternOAuthJwks` names
 * the identity provider's keys: signature, expiry, issuer, audience, and that its `sub` or `email`
 * claim is the user the client names. A token that fails never reaches a mailbox server. The JOSE
 * work is the `jose` library's; nothing here is cryptography.
 *
 * A key set that cannot be read (the file missing, the URL not answering) is a failure of a
 * dependency: the login fails for now, it never passes unchecked.
 */
import { readFile } from 'node:fs/promises';
import type { EffectiveSettings } from '@postern/config';
import type { SecretValue } from '@postern/contracts';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** Why the proxy refused a token (the audit line's `reason`). */
export type BearerTokenRefusal = 'token-expired' | 'token-signature' | 'token-claims' | 'token-malformed' | 'token-unknown-key' | 'token-user-mismatch';

export type BearerTokenVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: BearerTokenRefusal };

/** The login flow's port for the check. */
export interface BearerTokenPort {
  /** False when no key set is configured: then the mailbox server alone checks tokens. */
  enabled(): boolean;
  /** Checks `token` for `user`; throws when the keys cannot be had (a temporary failure). */
  check(user: string, token: SecretValue): Promise<BearerTokenVerdict>;
}

/**
 * Signature algorithms accepted: the asymmetric ones. A shared-secret (HS*) token cannot be
 * checked against a public key set, and accepting one is the classic algorithm-confusion hole.
 */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Clock skew allowed between the identity provider and this node for exp, nbf and iat. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** A remote key set's fetch: short beside the login's deadline; jose caches the keys between fetches. */
const REMOTE_TIMEOUT_MS = 5_000;

/** jose's error codes that mean the token is bad, not that the keys could not be had. */
const REFUSALS: Readonly<Record<string, BearerTokenRefusal>> = {
  ERR_JWT_EXPIRED: 'token-expired',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'token-signature',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'token-claims',
  ERR_JWS_INVALID: 'token-malformed',
  ERR_JWT_INVALID: 'token-malformed',
  ERR_JOSE_ALG_NOT_ALLOWED: 'token-malformed',
  ERR_JOSE_NOT_SUPPORTED: 'token-malformed',
  ERR_JWKS_NO_MATCHING_KEY: 'token-unknown-key',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'token-unknown-key',
};

export class JwtBearerCheck implements BearerTokenPort {
  /** The key set of the source in effect; a file is read again after a settings reload. */
  private keys: { readonly source: string; readonly settings: EffectiveSettings | undefined; readonly getKey: Promise<JWTVerifyGetKey> } | undefined;

  constructor(private readonly settings: () => EffectiveSettings) {}

  enabled(): boolean {
    return this.settings().posternOAuthJwks !== '';
  }

  async check(user: string, token: SecretValue): Promise<BearerTokenVerdict> {
    const s = this.settings();
    const getKey = await this.keySet(s);
    try {
      const { payload } = await jwtVerify(token.reveal(), getKey, {
        issuer: s.posternOAuthIssuer,
        audience: s.posternOAuthAudience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      const names = [payload.sub, payload['email']].filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase());
      return names.includes(user.toLowerCase()) ? { ok: true } : { ok: false, reason: 'token-user-mismatch' };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const reason = typeof code === 'string' ? REFUSALS[code] : undefined;
      if (reason === undefined) throw error;
      return { ok: false, reason };
    }
  }

  private keySet(s: EffectiveSettings): Promise<JWTVerifyGetKey> {
    const source = s.posternOAuthJwks;
    const remote = /^https?:\/\//.test(source);
    // A remote set keeps its own cache (refetched for an unknown key id); a file is read again after a reload.
    if (this.keys?.source === source && (remote || this.keys.settings === s)) return this.keys.getKey;
    const getKey = remote
      ? Promise.resolve(createRemoteJWKSet(new URL(source), { timeoutDuration: REMOTE_TIMEOUT_MS }))
      : readFile(source, 'utf8').then((text) => createLocalJWKSet(JSON.parse(text) as JSONWebKeySet));
    // A failed read is tried again at the next login, not remembered.
    getKey.catch(() => {
      if (this.keys?.getKey === getKey) this.keys = undefined;
    });
    this.keys = { source, settings: remote ? undefined : s, getKey };
    return getKey;
  }
}
