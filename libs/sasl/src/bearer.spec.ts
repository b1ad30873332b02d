import { describe, expect, it } from 'vitest';
import { secret } from '@postern/contracts';
import { bearerErrorAcknowledgement, bearerErrorChallenge, decodeOAuthBearer, decodeXOAuth2, encodeOAuthBearer, encodeXOAuth2 } from './bearer';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_';
const plain = (r: ReturnType<typeof decodeOAuthBearer>) => (r.ok ? { ...r.credentials, token: r.credentials.token.reveal() } : r);

describe('OAUTHBEARER (RFC 7628 §3.1)', () => {
  it.each<[string, string, unknown]>([
    // The RFC's own example (§4.1), with the user an account name.
    ['host and port', `n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer ${TOKEN}\x01\x01`, 'user@example.com'],
    ['no host or port', `n,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`, 'alice@example.com'],
    ['the `y` flag and a lower-case scheme', `y,a=alice@example.com,\x01auth=bearer ${TOKEN}\x01\x01`, 'alice@example.com'],
    ['an escaped comma and equals sign', `n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`, 'a,b=c@example.com'],
  ])('decodes %s', (_name, message, user) => {
    expect(plain(decodeOAuthBearer(b64(message)))).toEqual({ mechanism: 'OAUTHBEARER', user, token: TOKEN });
  });

  it.each<[string, string, string]>([
    ['invalid base64', 'bixh!', 'invalid-base64'],
    ['empty', '', 'malformed'],
    ['the client acknowledgement of an error', b64('\x01'), 'malformed'],
    ['channel binding', b64(`p=tls-unique,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`), 'channel-binding'],
    ['no authzid', b64(`n,,\x01auth=Bearer ${TOKEN}\x01\x01`), 'no-user'],
    ['an empty authzid', b64(`n,a=,\x01auth=Bearer ${TOKEN}\x01\x01`), 'no-user'],
    ['a bad escape in the authzid', b64(`n,a=a=2Db,\x01auth=Bearer ${TOKEN}\x01\x01`), 'malformed'],
    ['no auth pair', b64('n,a=alice@example.com,\x01host=x\x01\x01'), 'no-token'],
    ['a Basic scheme', b64('n,a=alice@example.com,\x01auth=Basic YTpi\x01\x01'), 'no-token'],
    ['a token with a space', b64('n,a=alice@example.com,\x01auth=Bearer ab cd\x01\x01'), 'malformed'],
    ['no final separator', b64(`n,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01`), 'malformed'],
    ['a repeated key', b64(`n,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01auth=Bearer x\x01\x01`), 'malformed'],
    ['a key with a digit', b64(`n,a=alice@example.com,\x01h0st=x\x01auth=Bearer ${TOKEN}\x01\x01`), 'malformed'],
    ['a control character in the user', b64(`n,a=al\x7fice,\x01auth=Bearer ${TOKEN}\x01\x01`), 'malformed'],
    ['a 257-byte user', b64(`n,a=${'u'.repeat(257)},\x01auth=Bearer ${TOKEN}\x01\x01`), 'too-long'],
    ['a 9 KiB token', b64(`n,a=alice@example.com,\x01auth=Bearer ${'t'.repeat(9 * 1024)}\x01\x01`), 'too-long'],
    ['a huge message', 'A'.repeat(100_000), 'too-long'],
    ['invalid UTF-8', Buffer.from([0x6e, 0x2c, 0x61, 0x3d, 0xff, 0x2c, 0x01, 0x01]).toString('base64'), 'invalid-utf8'],
  ])('refuses %s', (_name, input, reason) => {
    expect(decodeOAuthBearer(input)).toEqual({ ok: false, reason });
  });

  it('round-trips through encodeOAuthBearer, escaping the user', () => {
    const encoded = encodeOAuthBearer({ user: 'a,b=c@example.com', token: secret(TOKEN) });
    expect(Buffer.from(encoded, 'base64').toString()).toBe(`n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`);
    expect(plain(decodeOAuthBearer(encoded))).toEqual({ mechanism: 'OAUTHBEARER', user: 'a,b=c@example.com', token: TOKEN });
  });

  it('keeps the token secret', () => {
    const r = decodeOAuthBearer(b64(`n,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`));
    expect(JSON.stringify(r)).not.toContain(TOKEN);
  });
});

describe('XOAUTH2', () => {
  it('decodes the user and the token', () => {
    expect(plain(decodeXOAuth2(b64(`user=alice@example.com\x01auth=Bearer ${TOKEN}\x01\x01`)))).toEqual({
      mechanism: 'XOAUTH2',
      user: 'alice@example.com',
      token: TOKEN,
    });
  });

  it.each<[string, string, string]>([
    ['no user', b64(`auth=Bearer ${TOKEN}\x01\x01`), 'no-user'],
    ['an empty user', b64(`user=\x01auth=Bearer ${TOKEN}\x01\x01`), 'no-user'],
    ['no token', b64('user=alice@example.com\x01\x01'), 'no-token'],
    ['an OAUTHBEARER message', b64(`n,a=alice@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`), 'malformed'],
    ['the empty acknowledgement', '', 'malformed'],
  ])('refuses %s', (_name, input, reason) => {
    expect(decodeXOAuth2(input)).toEqual({ ok: false, reason });
  });

  it('round-trips through encodeXOAuth2 and refuses a user that would add a pair', () => {
    expect(plain(decodeXOAuth2(encodeXOAuth2({ user: 'bob@example.com', token: secret(TOKEN) })))).toEqual({
      mechanism: 'XOAUTH2',
      user: 'bob@example.com',
      token: TOKEN,
    });
    expect(() => encodeXOAuth2({ user: 'bob\x01auth=Bearer x', token: secret(TOKEN) })).toThrow(TypeError);
  });
});

describe('error challenges', () => {
  it.each([
    ['OAUTHBEARER', { status: 'invalid_token', schemes: 'bearer' }, 'AQ=='],
    ['XOAUTH2', { status: '401', schemes: 'bearer' }, ''],
  ] as const)('%s: a JSON challenge, and what the client answers', (mechanism, body, acknowledgement) => {
    expect(JSON.parse(Buffer.from(bearerErrorChallenge(mechanism), 'base64').toString())).toEqual(body);
    expect(bearerErrorAcknowledgement(mechanism)).toBe(acknowledgement);
  });
});
