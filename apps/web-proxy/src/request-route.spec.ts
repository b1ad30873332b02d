import { describe, expect, it } from 'vitest';
import { authTokenAccountId, basicUser, jwtSubject, requestRoute } from './request-route';

const ID = '3f1c2d4e-0000-4000-8000-00000000abcd';
/** A Zimbra-shaped auth token for `id` (the HMAC is not checked by the proxy). */
function authToken(id: string): string {
  const data = `id=${id.length}:${id};exp=13:1900000000000;type=6:zimbra;`;
  return `0_0123456789abcdef_${Buffer.from(data, 'latin1').toString('hex')}`;
}
const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('requestRoute', () => {
  it.each([
    ['/home/alice@example.com/inbox.rss', 'alice@example.com'],
    ['/home/~alice@example.com/Calendar', 'alice@example.com'],
    ['/service/home/bob@example.com/Contacts?fmt=vcf', 'bob@example.com'],
    ['/service/home/~bob@example.com/', 'bob@example.com'],
    ['/home/carol%40example.org/Briefcase', 'carol@example.org'],
  ])('REST %s → %s', (target, user) => {
    expect(requestRoute({ target })).toEqual({ by: 'name', user, rule: 'rest' });
  });

  it('a REST path of ~ alone falls through to the token', () => {
    expect(requestRoute({ target: '/home/~/inbox', cookie: `ZM_AUTH_TOKEN=${authToken(ID)}` })).toEqual({ by: 'id', user: ID, rule: 'token' });
  });

  it('ActiveSync and EWS: the Basic user, DOMAIN\\user turned around, else User=', () => {
    expect(requestRoute({ target: '/Microsoft-Server-ActiveSync?Cmd=Sync', authorization: basic('alice@example.com:pw') })).toEqual({
      by: 'name',
      user: 'alice@example.com',
      rule: 'activesync',
    });
    expect(requestRoute({ target: '/Microsoft-Server-ActiveSync?User=bob%40example.com&Cmd=Ping' })).toEqual({
      by: 'name',
      user: 'bob@example.com',
      rule: 'activesync',
    });
    expect(requestRoute({ target: '/EWS/Exchange.asmx', authorization: basic('EXAMPLE.COM\\carol:pw') })).toEqual({
      by: 'name',
      user: 'carol@EXAMPLE.COM',
      rule: 'ews',
    });
  });

  it('CalDAV and CardDAV paths', () => {
    expect(requestRoute({ target: '/dav/alice@example.com/Calendar/' })).toEqual({ by: 'name', user: 'alice@example.com', rule: 'dav' });
    expect(requestRoute({ target: '/principals/users/bob@example.com/' })).toEqual({ by: 'name', user: 'bob@example.com', rule: 'dav' });
  });

  it('the auth token by cookie or zauthtoken=, then a JWT by header or zjwt=', () => {
    expect(requestRoute({ target: '/', cookie: `a=b; ZM_AUTH_TOKEN=${authToken(ID)}; c=d` })).toEqual({ by: 'id', user: ID, rule: 'token' });
    expect(requestRoute({ target: `/service/soap?zauthtoken=${authToken(ID)}` })).toEqual({ by: 'id', user: ID, rule: 'token' });
    expect(requestRoute({ target: '/service/soap', authorization: `Bearer ${jwt({ sub: ID })}` })).toEqual({ by: 'id', user: ID, rule: 'jwt' });
    expect(requestRoute({ target: `/x?zjwt=${jwt({ sub: ID })}` })).toEqual({ by: 'id', user: ID, rule: 'jwt' });
  });

  it('the first rule wins: a REST path over a token', () => {
    expect(requestRoute({ target: '/home/alice@example.com/', cookie: `ZM_AUTH_TOKEN=${authToken(ID)}` })).toMatchObject({ rule: 'rest' });
  });

  it('nothing usable: the pool', () => {
    for (const request of [
      { target: '/' },
      { target: '/zimbra/' },
      { target: '/home/%zz/x' },
      { target: '/', cookie: 'ZM_AUTH_TOKEN=garbage' },
      { target: '/', authorization: 'Bearer not-a-jwt' },
      { target: '/Microsoft-Server-ActiveSync' },
      { target: `/home/${'a'.repeat(300)}/` },
    ]) {
      expect(requestRoute(request)).toEqual({ by: 'pool', rule: 'none' });
    }
  });
});

describe('token readers', () => {
  it('reads the id of an auth token and refuses broken ones', () => {
    expect(authTokenAccountId(authToken(ID))).toBe(ID);
    expect(authTokenAccountId('0_abc')).toBeUndefined();
    expect(authTokenAccountId(`0_x_${Buffer.from('id=99:short').toString('hex')}`)).toBeUndefined();
    expect(authTokenAccountId(`0_x_${Buffer.from('exp=1:5;type=1:z').toString('hex')}`)).toBeUndefined();
  });

  it('reads a JWT subject, never throwing', () => {
    expect(jwtSubject(jwt({ sub: 'x' }))).toBe('x');
    expect(jwtSubject(jwt({ sub: 5 }))).toBeUndefined();
    expect(jwtSubject('a.!!!.c')).toBeUndefined();
  });

  it('reads Basic users', () => {
    expect(basicUser(basic('u@d:p:with:colons'))).toBe('u@d');
    expect(basicUser('Basic !!!')).toBeUndefined();
    expect(basicUser(basic(':p'))).toBeUndefined();
  });
});
