/**
 * `postern.route.lookup.v1`: which mailbox server holds this user, for this protocol?
 *
 * The password is never part of the request: the lookup needs only the name. Expected outcomes
 * (found, not found, not allowed) are results; a directory that is down is an `UNAVAILABLE` error.
 */
import { z } from 'zod';
import { HostSchema, IpAddressSchema, LoginSchema, MAX_LOGIN_LENGTH, PortSchema, RequestIdSchema, RouteProtocolSchema, VirtualHostSchema } from './common';
import { defineRequest } from './envelope';
import { QueueGroups, Subjects } from './subjects';

export const RouteLookupRequestSchema = z
  .object({
    /**
     * What `user` is: a login as typed (`name`), a `zimbraId` from a web token (`id`), or a
     * Kerberos principal the proxy verified (`principal`, GSSAPI: never answered from or written
     * to the cache, as Zimbra never caches GSSAPI lookups).
     */
    by: z.enum(['name', 'id', 'principal']),
    /** With `by: 'principal'`: the authorization identity the client asked for: the principal's account, or one it may act for (an administrator's). */
    authzid: LoginSchema.optional(),
    user: LoginSchema,
    protocol: RouteProtocolSchema,
    /** The client's address (used for `zimbraDomainAllowedIPs`). */
    clientIp: IpAddressSchema,
    /** The proxy's local address the client connected to (qualifies unqualified mail logins via `zimbraVirtualIPAddress`). */
    proxyIp: IpAddressSchema.optional(),
    /** The HTTP Host / TLS SNI name (qualifies unqualified web logins via `zimbraVirtualHostname`). */
    virtualHost: VirtualHostSchema.optional(),
    /** The frontend session's id, for log correlation. */
    requestId: RequestIdSchema.optional(),
    /** What is left of the caller's login deadline; the lookup gives up (UNAVAILABLE) when it runs out. */
    deadlineMs: z.number().int().min(1).max(600_000).optional(),
  })
  .strict();
export type RouteLookupRequest = z.infer<typeof RouteLookupRequestSchema>;

/**
 * A name that frontends put on the wire upstream (POP3 `USER`, IMAP `LOGIN`): no control
 * characters, so a directory value can never become a second command.
 */
const NameSchema = z
  .string()
  .min(1)
  .max(MAX_LOGIN_LENGTH)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'must not contain control characters');

/** A route: where to connect and whom to log in as. */
export const RouteSchema = z
  .object({
    host: HostSchema,
    port: PortSchema,
    /** The canonical account name (`zimbraMailDeliveryAddress`). */
    accountName: NameSchema,
    /** The account's `zimbraId` (empty for an external route to a user not in the directory). */
    accountId: z.string().max(64),
    /** The name to log in with upstream (the account name, or as typed for some external routes). */
    upstreamUser: NameSchema,
    /** True when the route leaves the mail system (`zimbraReverseProxyUseExternalRoute`). */
    external: z.boolean(),
  })
  .strict();
export type Route = z.infer<typeof RouteSchema>;

export const RouteLookupResultSchema = z.discriminatedUnion('outcome', [
  z.object({
    outcome: z.literal('ROUTE'),
    route: RouteSchema,
    /** Where the answer came from. */
    source: z.enum(['cache', 'directory']),
  }),
  z.object({
    /** No such user (or alias, or id). The client sees a generic login failure after `waitMs`. */
    outcome: z.literal('NOT_FOUND'),
    waitMs: z.number().int().min(0),
  }),
  z.object({
    /**
     * The account exists but may not log in here: closed/locked, the client IP is not allowed, or
     * (GSSAPI) the authorization identity names another account.
     */
    outcome: z.literal('NOT_ALLOWED'),
    reason: z.enum(['account-status', 'client-ip', 'authzid']),
    waitMs: z.number().int().min(0),
  }),
]);
export type RouteLookupResult = z.infer<typeof RouteLookupResultSchema>;

export const RouteLookupContract = defineRequest({
  subject: Subjects.routeLookup,
  queue: QueueGroups.routeLookup,
  request: RouteLookupRequestSchema,
  result: RouteLookupResultSchema,
});
