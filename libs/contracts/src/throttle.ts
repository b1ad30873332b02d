/**
 * `postern.throttle.check.v1`: may this client connect, may this user try to log in, and the
 * login that just succeeded or failed (so it is counted).
 */
import { z } from 'zod';
import { IpAddressSchema, LoginProtocolSchema, LoginSchema, RequestIdSchema } from './common';
import { defineRequest } from './envelope';
import { QueueGroups, Subjects } from './subjects';

export const ThrottleCheckRequestSchema = z
  .object({
    /**
     * `connect`: a new connection from `clientIp` (IP limits).
     * `pre-login`: before asking the upstream (user limit, check only: strangers cannot lock a user out).
     * `login-succeeded` / `login-failed`: count the outcome.
     */
    kind: z.enum(['connect', 'pre-login', 'login-succeeded', 'login-failed']),
    protocol: LoginProtocolSchema,
    clientIp: IpAddressSchema,
    /** The canonical account name when known, else the login as typed. Required except for `connect`. */
    user: LoginSchema.optional(),
    /** The frontend session's id, for log correlation (the same for every check of a session). */
    requestId: RequestIdSchema.optional(),
    /**
     * Unique per check. The copies of one check (a late answer is hedged: the same check goes to
     * the queue group again) carry the same id, and the service counts an id at most once, so a
     * hedge never counts a connection or a login twice. Without it a check is counted as it comes.
     */
    checkId: RequestIdSchema.optional(),
  })
  .strict()
  .refine((r) => r.kind === 'connect' || r.user !== undefined, { message: 'user is required after connect', path: ['user'] });
export type ThrottleCheckRequest = z.infer<typeof ThrottleCheckRequestSchema>;

export const ThrottleCheckResultSchema = z.discriminatedUnion('verdict', [
  z.object({ verdict: z.literal('allow') }),
  z.object({
    verdict: z.literal('deny'),
    reason: z.enum(['ip', 'user', 'ip-failures', 'user-failures']),
    /** What the client sees (`zimbraReverseProxyIpThrottleMsg` / `...UserThrottleMsg`). */
    message: z.string().max(512),
    retryAfterMs: z.number().int().min(0).optional(),
  }),
]);
export type ThrottleCheckResult = z.infer<typeof ThrottleCheckResultSchema>;

export const ThrottleCheckContract = defineRequest({
  subject: Subjects.throttleCheck,
  queue: QueueGroups.loginThrottle,
  request: ThrottleCheckRequestSchema,
  result: ThrottleCheckResultSchema,
});
