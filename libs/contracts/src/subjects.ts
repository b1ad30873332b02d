/**
 * NATS subjects and queue groups. Versioned: a breaking change to a payload gets
 * a new subject (`.v2`) served side by side with the old one until every client has moved.
 */
export const Subjects = {
  /** Request/reply: route lookup. Served by `route-lookup` in queue group {@link QueueGroups.routeLookup}. */
  routeLookup: 'postern.route.lookup.v1',
  /** Request/reply: login throttle check. Served by `login-throttle`. */
  throttleCheck: 'postern.throttle.check.v1',
} as const;

/** Queue groups: instances in one group share the load; each request goes to one of them. */
export const QueueGroups = {
  routeLookup: 'route-lookup',
  loginThrottle: 'login-throttle',
} as const;
