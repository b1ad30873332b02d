/**
 * The proxy's JWT check with tokens minted here by jose (the identity provider's side) and key sets
 * from a file and from a real HTTP server: what passes, why the rest is refused, and that a key set
 * that cannot be had is a failure of its own (a temporary one for the client), never a pass.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, type EffectiveSettings } from '@postern/config';
import { secret } from '@postern/contracts';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtBearerCheck } from './bearer-token-check';

const ISSUER = 'https://idp.postern.test';
let dir: string;
let jwksFile: string;
let signing: CryptoKey;
let publicJwk: JWK;
let other: { privateKey: CryptoKey; publicKey: CryptoKey };

function settings(overrides: Record<string, unknown> = {}): EffectiveSettings {
  return resolveSettings({ overrides: { posternOAuthJwks: jwksFile, posternOAuthIssuer: ISSUER, posternOAuthAudience: 'mail', ...overrides } });
}

async function mint(
  claims: Record<string, unknown> = { email: 'alice@example.com' },
  { sub = 'alice@example.com', audience = 'mail', issuer = ISSUER, expiresIn = 300, key = signing, kid = 'k1' } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + expiresIn)
    .sign(key);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-jwks-'));
  jwksFile = join(dir, 'jwks.json');
  const pair = await generateKeyPair('ES256');
  signing = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  other = await generateKeyPair('ES256');
  writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('JwtBearerCheck with a JWKS file', () => {
  const check = new JwtBearerCheck(() => settings());

  it('is off without a key set', () => {
    expect(new JwtBearerCheck(() => resolveSettings({})).enabled()).toBe(false);
    expect(check.enabled()).toBe(true);
  });

  it('passes a good token whose sub or email names the user, in any case', async () => {
    expect(await check.check('alice@example.com', secret(await mint()))).toEqual({ ok: true });
    expect(await check.check('Alice@Example.com', secret(await mint()))).toEqual({ ok: true });
    // An opaque subject: the email claim names the user.
    expect(await check.check('alice@example.com', secret(await mint({ email: 'alice@example.com' }, { sub: '248289761001' })))).toEqual({ ok: true });
  });

  it.each<[string, () => Promise<string>, string]>([
    ['expired (beyond the clock tolerance)', () => mint(undefined, { expiresIn: -120 }), 'token-expired'],
    ['for another audience', () => mint(undefined, { audience: 'calendar' }), 'token-claims'],
    ['from another issuer', () => mint(undefined, { issuer: 'https://evil.test' }), 'token-claims'],
    ['signed with another key under the same key id', () => mint(undefined, { key: other.privateKey }), 'token-signature'],
    ['signed with a key the set does not have', () => mint(undefined, { kid: 'k2' }), 'token-unknown-key'],
    ['for another user', () => mint({ email: 'bob@example.com' }, { sub: 'bob@example.com' }), 'token-user-mismatch'],
    ['not a JWT', async () => 'ya29.a0AfH6SMB-opaque-token', 'token-malformed'],
    // Algorithm confusion: a shared-secret token is never checked against a public key set.
    [
      'signed with HS256',
      () =>
        new SignJWT({ email: 'alice@example.com' })
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .setSubject('alice@example.com')
          .setIssuer(ISSUER)
          .setAudience('mail')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!')),
      'token-malformed',
    ],
  ])('refuses a token %s', async (_name, make, reason) => {
    expect(await check.check('alice@example.com', secret(await make()))).toEqual({ ok: false, reason });
  });

  it('throws when the key set cannot be read, and reads it again at the next login', async () => {
    const missing = join(dir, 'later.json');
    const later = new JwtBearerCheck(() => settings({ posternOAuthJwks: missing }));
    await expect(later.check('alice@example.com', secret(await mint()))).rejects.toThrow(/ENOENT/);
    writeFileSync(missing, JSON.stringify({ keys: [publicJwk] }));
    expect(await later.check('alice@example.com', secret(await mint()))).toEqual({ ok: true });
  });

  it('reads the file again after a settings reload (a rotated key)', async () => {
    const rotating = join(dir, 'rotating.json');
    writeFileSync(rotating, JSON.stringify({ keys: [publicJwk] }));
    let current = settings({ posternOAuthJwks: rotating });
    const rotated = new JwtBearerCheck(() => current);
    const token = await mint(undefined, { key: other.privateKey, kid: 'k2' });
    expect(await rotated.check('alice@example.com', secret(token))).toEqual({ ok: false, reason: 'token-unknown-key' });
    writeFileSync(rotating, JSON.stringify({ keys: [publicJwk, { ...(await exportJWK(other.publicKey)), kid: 'k2', alg: 'ES256' }] }));
    // Same settings: the keys read before still apply.
    expect(await rotated.check('alice@example.com', secret(token))).toEqual({ ok: false, reason: 'token-unknown-key' });
    current = settings({ posternOAuthJwks: rotating });
    expect(await rotated.check('alice@example.com', secret(token))).toEqual({ ok: true });
  });
});

describe('JwtBearerCheck with a JWKS URL', () => {
  let server: Server;
  let url: string;
  let fetches = 0;

  beforeAll(async () => {
    server = createServer((_request, response) => {
      fetches++;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fetches the keys once and checks tokens against them', async () => {
    const check = new JwtBearerCheck(() => settings({ posternOAuthJwks: url }));
    expect(await check.check('alice@example.com', secret(await mint()))).toEqual({ ok: true });
    expect(await check.check('alice@example.com', secret(await mint(undefined, { expiresIn: -120 })))).toEqual({ ok: false, reason: 'token-expired' });
    expect(fetches).toBe(1);
  });

  it('throws when the key server does not answer: a temporary failure, never a pass', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const check = new JwtBearerCheck(() => settings({ posternOAuthJwks: `http://127.0.0.1:${port}/jwks` }));
    await expect(check.check('alice@example.com', secret(await mint()))).rejects.toThrow();
  });
});
