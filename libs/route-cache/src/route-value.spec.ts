import { describe, expect, it } from 'vitest';
import { MAX_ROUTE_VALUE_BYTES } from './limits';
import { decodeAlias, decodeRoute, encodeAlias, encodeRoute, type CachedRoute } from './route-value';

const route: CachedRoute = {
  host: 'mbox1.example.com',
  port: 7143,
  accountName: 'john@example.com',
  accountId: 'b3f1c9a2-6a4e-4c1e-9f7a-0a1b2c3d4e5f',
  upstreamUser: 'john@example.com',
  external: false,
};

const raw = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('route values', () => {
  it('round-trips a route', () => {
    expect(decodeRoute(raw(encodeRoute(route)))).toEqual({ ok: true, value: route });
    expect(decodeRoute(raw(encodeRoute({ ...route, host: '2001:db8::1', external: true })))).toMatchObject({ ok: true });
  });

  it('round-trips the allow-list and leaves it out when absent', () => {
    const restricted = { ...route, allowedIps: ['192.0.2.0/24', '2001:db8::/32', '10.1.2.3'] };
    expect(decodeRoute(raw(encodeRoute(restricted)))).toEqual({ ok: true, value: restricted });
    expect(JSON.parse(encodeRoute(route))).not.toHaveProperty('allowedIps');
  });

  it('drops extra properties of the object handed in when encoding', () => {
    expect(JSON.parse(encodeRoute({ ...route, password: 'x' } as CachedRoute))).toEqual(route);
  });

  const invalid: [string, unknown][] = [
    ['not JSON', 'mbox1:7143'],
    ['a Zimbra-style ip:port value', '10.0.0.5:7143'],
    ['JSON null', null],
    ['an array', [route]],
    ['a missing field', { ...route, external: undefined }],
    ['an extra field', { ...route, admin: true }],
    ['a __proto__ field', `{"__proto__":{},${JSON.stringify(route).slice(1)}`],
    ['host with a space', { ...route, host: 'evil.com 143' }],
    ['host with CR LF', { ...route, host: 'evil.com\r\n' }],
    ['host with a slash', { ...route, host: 'evil.com/x' }],
    ['empty host', { ...route, host: '' }],
    ['host too long', { ...route, host: 'a'.repeat(254) }],
    ['port 0', { ...route, port: 0 }],
    ['port 65536', { ...route, port: 65_536 }],
    ['port as a string', { ...route, port: '7143' }],
    ['fractional port', { ...route, port: 7143.5 }],
    ['upstreamUser with CR LF', { ...route, upstreamUser: 'john\r\nA1 LOGIN admin x' }],
    ['upstreamUser with NUL', { ...route, upstreamUser: 'john\u0000' }],
    ['accountName too long', { ...route, accountName: `${'a'.repeat(320)}@x` }],
    ['empty accountId', { ...route, accountId: '' }],
    ['external as a string', { ...route, external: 'false' }],
    ['allowedIps as a string', { ...route, allowedIps: '10.0.0.0/8' }],
    ['allowedIps with a host name', { ...route, allowedIps: ['evil.example.net'] }],
    ['allowedIps with CR LF', { ...route, allowedIps: ['10.0.0.1\r\n'] }],
    ['allowedIps too long', { ...route, allowedIps: Array.from({ length: 257 }, () => '10.0.0.1') }],
  ];
  it.each(invalid)('refuses %s', (_name, value) => {
    expect(decodeRoute(raw(value)).ok).toBe(false);
  });

  it('refuses invalid UTF-8 and oversized values without parsing them', () => {
    expect(decodeRoute(Buffer.from([0x7b, 0xff, 0x7d])).ok).toBe(false);
    expect(decodeRoute(Buffer.from(`${' '.repeat(MAX_ROUTE_VALUE_BYTES)}${encodeRoute(route)}`)).ok).toBe(false);
  });
});

describe('alias values', () => {
  it('round-trips an account name', () => {
    expect(decodeAlias(raw(encodeAlias('john@example.com')))).toEqual({ ok: true, value: 'john@example.com' });
  });
  it.each<[string, unknown]>([
    ['a bare string', 'john@example.com'],
    ['a name with CR LF', { accountName: 'john\r\n' }],
    ['an extra field', { accountName: 'john@example.com', x: 1 }],
    ['a number', { accountName: 5 }],
  ])('refuses %s', (_name, value) => {
    expect(decodeAlias(raw(value)).ok).toBe(false);
  });
});
