/**
 * Dropping an account's routes when what routes it changed: its mailbox server, its status, its
 * names or aliases, a delete, or its domain's external route. The shared cache loses every route
 * and qualified alias entry of the account (by each name it had and has, and by id), and
 * `postern.route.invalidate.v1` tells every process that keeps routes of its own (web-proxy's
 * memo, route-lookup's directory memo) and every mail proxy (which may end the account's open
 * sessions) — so the next login goes to the new server.
 */
import { RouteInvalidateContract, type AttributeMap, type InvalidationReason, type RouteInvalidation } from '@postern/contracts';
import { attr, attrs } from '@postern/directory';
import type { RouteCache } from '@postern/route-cache';
import { publishEvent, type NatsConnection } from '@postern/service-kit';

/** Why an account's routes must go, from its routing attributes before and after; undefined: they stay. */
export function invalidationReason(before: AttributeMap | null, after: AttributeMap | null, changed: readonly string[]): InvalidationReason | undefined {
  if (!after) return 'deleted';
  if (!before) return 'changed';
  const names = new Set(changed.map((n) => n.toLowerCase()));
  if (names.has('zimbramaildeliveryaddress')) return 'renamed';
  if (names.has('zimbraaccountstatus')) return 'status';
  if ([...names].some((n) => n.startsWith('zimbraexternal') || n.startsWith('zimbrareverseproxyuseexternalroute'))) return 'external-route';
  if (names.has('zimbramailalias')) return 'alias';
  if (names.size > 0) return 'moved';
  return undefined;
}

/** The account's names, aliases and id over both states. */
export function invalidationOf(before: AttributeMap | null, after: AttributeMap | null, reason: InvalidationReason): RouteInvalidation {
  const states = [before ?? {}, after ?? {}];
  const unique = (values: string[]) => [...new Set(values.map((v) => v.toLowerCase()))].filter((v) => v !== '');
  const accountNames = unique(states.flatMap((s) => attrs(s, 'zimbraMailDeliveryAddress')));
  const logins = unique([...accountNames, ...states.flatMap((s) => attrs(s, 'zimbraMailAlias'))]);
  const accountId = attr(after ?? {}, 'zimbraId') ?? attr(before ?? {}, 'zimbraId');
  const status = after ? (attr(after, 'zimbraAccountStatus') ?? 'active') : undefined;
  return { accountNames, accountId, logins, reason, ...(status ? { status } : {}) };
}

export class RouteInvalidator {
  constructor(
    private readonly cache: RouteCache,
    private readonly nc: NatsConnection,
  ) {}

  /** Deletes the account's cached routes and aliases, then tells every process. Returns the entries deleted. */
  async invalidate(invalidation: RouteInvalidation): Promise<number> {
    let deleted = 0;
    const [first, ...others] = invalidation.accountNames;
    if (first !== undefined) {
      deleted += await this.cache.invalidate({ accountName: first, accountId: invalidation.accountId, logins: invalidation.logins });
      for (const name of others) deleted += await this.cache.invalidate({ accountName: name });
    }
    publishEvent(this.nc, RouteInvalidateContract, invalidation);
    return deleted;
  }
}
