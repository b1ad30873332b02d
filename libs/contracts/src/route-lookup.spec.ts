import { describe, expect, it } from 'vitest';
import { MAX_LOGIN_LENGTH } from './common';
import { SessionsQuerySchema } from './config-events';
import { decodePayload, encodePayload, replySchema } from './envelope';
import { PosternError } from './errors';
import { RouteLookupContract, RouteLookupRequestSchema, RouteSchema } from './route-lookup';
import { Subjects, QueueGroups } from './subjects';

const valid = { by: 'name', user: 'alice@example.com', protocol: 'imapssl', clientIp: '192.0.2.7', proxyIp: '127.0.0.10' } as const;
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('route lookup contract', () => {
  it('names a versioned subject and its queue group', () => {
    expect(RouteLookupContract.subject).toBe(Subjects.routeLookup);
    expect(RouteLookupContract.subject).toMatch(/\.v1$/);
    expect(RouteLookupContract.queue).toBe(QueueGroups.routeLookup);
  });

  it('round-trips a valid request', () => {
    const decoded = decodePayload(RouteLookupRequestSchema, encodePayload(RouteLookupRequestSchema, valid));
    expect(decoded).toEqual({ ok: true, value: valid });
  });

  it.each([
    ['a user name with CR LF', { ...valid, user: 'alice\r\nset x 0 0 1' }],
    ['a user name with NUL', { ...valid, user: 'alice\u0000' }],
    ['a user name over 256 characters', { ...valid, user: `${'a'.repeat(250)}@example.com` }],
    ['an empty user name', { ...valid, user: '' }],
    ['surrounding white space', { ...valid, user: ' alice@example.com' }],
    ['an unknown protocol', { ...valid, protocol: 'smtp' }],
    ['a client IP that is not an address', { ...valid, clientIp: '192.0.2.7; drop' }],
    ['an unknown field (a password must never travel)', { ...valid, password: 'secret' }],
    ['a virtual host with a slash', { ...valid, virtualHost: 'mail.example.com/x' }],
    ['a deadline of zero', { ...valid, deadlineMs: 0 }],
  ])('refuses %s', (_what, request) => {
    expect(decodePayload(RouteLookupRequestSchema, bytes(request)).ok).toBe(false);
    expect(() => encodePayload(RouteLookupRequestSchema, request as never)).toThrow(PosternError);
  });

  it('refuses a route whose names would break a line upstream (a directory value is not trusted)', () => {
    const route = { host: '127.0.0.2', port: 7110, accountName: 'bob@example.com', accountId: 'id', upstreamUser: 'bob@example.com', external: false };
    expect(RouteSchema.safeParse(route).success).toBe(true);
    expect(RouteSchema.safeParse({ ...route, upstreamUser: 'bob@example.com\r\nNOOP' }).success).toBe(false);
    expect(RouteSchema.safeParse({ ...route, accountName: 'bob\u0000@example.com' }).success).toBe(false);
  });

  it('caps every login name at the one limit, MAX_LOGIN_LENGTH', () => {
    const longest = `${'a'.repeat(MAX_LOGIN_LENGTH - '@example.com'.length)}@example.com`;
    const tooLong = `a${longest}`;
    expect(RouteLookupRequestSchema.safeParse({ ...valid, user: longest }).success).toBe(true);
    expect(RouteLookupRequestSchema.safeParse({ ...valid, user: tooLong }).success).toBe(false);
    const route = { host: '127.0.0.2', port: 7110, accountName: longest, accountId: 'id', upstreamUser: longest, external: false };
    expect(RouteSchema.safeParse(route).success).toBe(true);
    expect(RouteSchema.safeParse({ ...route, upstreamUser: tooLong }).success).toBe(false);
    expect(SessionsQuerySchema.safeParse({ user: longest }).success).toBe(true);
    expect(SessionsQuerySchema.safeParse({ user: tooLong }).success).toBe(false);
  });

  it('refuses bytes that are not UTF-8 JSON, and oversize payloads', () => {
    expect(decodePayload(RouteLookupRequestSchema, new Uint8Array([0xff, 0xfe, 0x00])).ok).toBe(false);
    expect(decodePayload(RouteLookupRequestSchema, bytes({ ...valid, pad: 'x'.repeat(70_000) })).ok).toBe(false);
  });

  it('accepts IPv6 addresses', () => {
    expect(decodePayload(RouteLookupRequestSchema, bytes({ ...valid, clientIp: '2001:db8::1' })).ok).toBe(true);
  });

  it('validates replies: a result, or an error with a stable code', () => {
    const schema = replySchema(RouteLookupContract.result);
    const route = { host: '127.0.0.2', port: 7993, accountName: 'alice@example.com', accountId: 'x', upstreamUser: 'alice@example.com', external: false };
    expect(schema.safeParse({ ok: true, result: { outcome: 'ROUTE', route, source: 'cache' } }).success).toBe(true);
    expect(schema.safeParse({ ok: true, result: { outcome: 'NOT_FOUND', waitMs: 10_000 } }).success).toBe(true);
    expect(schema.safeParse({ ok: false, error: { code: 'UNAVAILABLE', message: 'directory down', retryAfterMs: 10 } }).success).toBe(true);
    expect(schema.safeParse({ ok: false, error: { code: 'SOMETHING_ELSE', message: '' } }).success).toBe(false);
    expect(schema.safeParse({ ok: true, result: { outcome: 'ROUTE', route: { ...route, port: 0 }, source: 'cache' } }).success).toBe(false);
    expect(schema.safeParse({ ok: true, result: { outcome: 'ROUTE', route: { ...route, host: 'evil host\r\n' }, source: 'cache' } }).success).toBe(false);
  });
});
