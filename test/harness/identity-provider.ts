/**
 * An OAuth 2.0 identity provider for tests and the demo, and the client side of a bearer-token
 * login. The provider is a signing key made at start: its public half as a JWKS file (what the
 * proxy's posternOAuthJwks reads) and as PEM for Dovecot's oauth2 passdb ({@link DovecotOAuth2});
 * it mints JWTs with jose, and remembers every token it minted so a test can look for them where
 * secrets must never be. The clients are transcripts of AUTHENTICATE / AUTH as mail clients send
 * them (RFC 7628 OAUTHBEARER, XOAUTH2), answering an error challenge as RFC 7628 §3.2.3 says.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { DovecotOAuth2 } from './dovecot';
import { LineClient } from './line-client';

export type BearerMechanism = 'OAUTHBEARER' | 'XOAUTH2';

export interface TokenOptions {
  /** The `sub` and `email` claims. */
  readonly user: string;
  /** Default: the provider's audience. */
  readonly audience?: string;
  /** Seconds from now; negative: already expired. Default 300. */
  readonly expiresIn?: number;
  /** Signed with another key under the provider's key id: a forgery. */
  readonly forged?: boolean;
  /** The `scope` claim (Dovecot's passdb requires the scope it is configured with); null: none. Default: the audience. */
  readonly scope?: string | null;
}

export interface IdentityProvider {
  readonly issuer: string;
  readonly audience: string;
  /** The public key set, as a file. */
  readonly jwksFile: string;
  /** What a Dovecot oauth2 passdb needs to trust this provider's tokens (`scope` = the audience). */
  readonly dovecot: DovecotOAuth2;
  mint(options: TokenOptions): Promise<string>;
  /** Every token minted so far. */
  readonly minted: readonly string[];
}

/** Makes a provider whose key set is written to `<dir>/jwks.json`. ES256 keys, as the big providers' are RS256 or ES256. */
export async function startIdentityProvider(
  dir: string,
  { issuer = 'https://idp.postern.test', audience = 'mail', kid = 'idp-1' }: { issuer?: string; audience?: string; kid?: string } = {},
): Promise<IdentityProvider> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const forger: CryptoKey = (await generateKeyPair('ES256')).privateKey;
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }));
  const minted: string[] = [];
  return {
    issuer,
    audience,
    jwksFile,
    dovecot: { keys: [{ alg: 'ES256', kid, pem: await exportSPKI(publicKey) }], issuer, scope: audience },
    minted,
    async mint({ user, audience: aud = audience, expiresIn = 300, forged = false, scope = audience }) {
      const now = Math.floor(Date.now() / 1000);
      // Dovecot's local validation wants `typ` and `sub`; iat in the past, as a token in use has.
      const token = await new SignJWT({ email: user, ...(scope === null ? {} : { scope }) })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setSubject(user)
        .setIssuer(issuer)
        .setAudience(aud)
        .setIssuedAt(now - 60)
        .setExpirationTime(now + expiresIn)
        .sign(forged ? forger : privateKey);
      minted.push(token);
      return token;
    },
  };
}

/** The client's first response, base64: OAUTHBEARER with host and port as Thunderbird sends them, or XOAUTH2. */
export function bearerClientResponse(mechanism: BearerMechanism, user: string, token: string): string {
  const message =
    mechanism === 'OAUTHBEARER' ? `n,a=${user},\x01host=127.0.0.1\x01port=143\x01auth=Bearer ${token}\x01\x01` : `user=${user}\x01auth=Bearer ${token}\x01\x01`;
  return Buffer.from(message, 'utf8').toString('base64');
}

/** How a bearer login ended. */
export interface BearerOutcome {
  /** The final line: `a1 OK …`, `a1 NO …`, `+OK …`, `-ERR …`. */
  readonly final: string;
  /** The error challenge, decoded, when there was one. */
  readonly challenge?: Record<string, unknown>;
}

export interface BearerLoginTarget {
  readonly port: number;
  /** CA and name for implicit TLS (IMAPS, POP3S). */
  readonly ca: string;
  readonly servername: string;
}

/** AUTHENTICATE with an initial response (RFC 4959), as Thunderbird and imapflow send it, over IMAPS; LOGOUT after an OK. */
export async function imapBearerLogin(target: BearerLoginTarget, mechanism: BearerMechanism, user: string, token: string): Promise<BearerOutcome> {
  const c = await LineClient.connect({ port: target.port, tls: true, ca: target.ca, servername: target.servername });
  try {
    const greeting = await c.line();
    if (!greeting.startsWith('* OK')) throw new Error(`not an IMAP greeting: ${greeting}`);
    c.send(`a1 AUTHENTICATE ${mechanism} ${bearerClientResponse(mechanism, user, token)}\r\n`);
    // Untagged lines first (a throttled login's BYE), then the challenge or the tagged answer.
    let line = await c.line();
    while (!line.startsWith('a1 ') && !line.startsWith('+ ')) line = await c.line();
    let challenge: Record<string, unknown> | undefined;
    if (line.startsWith('+ ')) {
      challenge = decodeChallenge(line);
      c.send(`${acknowledgement(mechanism)}\r\n`);
      line = (await c.until('a1 ')).at(-1)!;
    }
    if (line.startsWith('a1 OK')) c.send('a2 LOGOUT\r\n');
    return { final: line, ...(challenge ? { challenge } : {}) };
  } finally {
    c.close();
  }
}

/** AUTH, then the response after the server's `+ ` (RFC 5034 §4: a JWT makes the line too long for an initial response), over POP3S. */
export async function pop3BearerLogin(target: BearerLoginTarget, mechanism: BearerMechanism, user: string, token: string): Promise<BearerOutcome> {
  const c = await LineClient.connect({ port: target.port, tls: true, ca: target.ca, servername: target.servername });
  try {
    const greeting = await c.line();
    if (!greeting.startsWith('+OK')) throw new Error(`not a POP3 greeting: ${greeting}`);
    c.send(`AUTH ${mechanism}\r\n`);
    const ready = await c.line();
    if (ready !== '+ ') return { final: ready };
    c.send(`${bearerClientResponse(mechanism, user, token)}\r\n`);
    let line = await c.line();
    let challenge: Record<string, unknown> | undefined;
    if (line.startsWith('+ ')) {
      challenge = decodeChallenge(line);
      c.send(`${acknowledgement(mechanism)}\r\n`);
      line = await c.line();
    }
    if (line.startsWith('+OK')) c.send('QUIT\r\n');
    return { final: line, ...(challenge ? { challenge } : {}) };
  } finally {
    c.close();
  }
}

/** The client's answer to an error challenge: %x01 for OAUTHBEARER (RFC 7628 §3.2.3), empty for XOAUTH2. */
function acknowledgement(mechanism: BearerMechanism): string {
  return mechanism === 'OAUTHBEARER' ? 'AQ==' : '';
}

function decodeChallenge(line: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(line.slice(2), 'base64').toString('utf8')) as Record<string, unknown>;
}
