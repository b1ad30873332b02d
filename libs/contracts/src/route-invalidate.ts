/** `postern.route.invalidate.v1`: an account's route changed; every holder of a cached route drops it. */
import { z } from 'zod';
import { LoginSchema } from './common';
import { defineEvent } from './envelope';
import { Subjects } from './subjects';

export const RouteInvalidateEventSchema = z
  .object({
    accountName: LoginSchema,
    accountId: z.string().max(64).optional(),
    /** Other logins (aliases) whose alias→account cache entries must go too. */
    logins: z.array(LoginSchema).max(1000).optional(),
    reason: z.enum(['mailbox-move', 'upstream-auth-failure', 'purge', 'config-change']),
    at: z.iso.datetime(),
  })
  .strict();
export type RouteInvalidateEvent = z.infer<typeof RouteInvalidateEventSchema>;

export const RouteInvalidateContract = defineEvent({
  subject: Subjects.routeInvalidate,
  event: RouteInvalidateEventSchema,
});
