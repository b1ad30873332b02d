/**
 * NATS subjects, queue groups, streams and buckets. Versioned: a breaking change to a payload gets
 * a new subject (`.v2`) served side by side with the old one until every client has moved.
 */
export const Subjects = {
  /** Request/reply: route lookup. Served by `route-lookup` in queue group {@link QueueGroups.routeLookup}. */
  routeLookup: 'postern.route.lookup.v1',
  /** Request/reply: login throttle check. Served by `login-throttle`. */
  throttleCheck: 'postern.throttle.check.v1',
  /** Broadcast (no queue group): an account's route changed; every holder of a cached route drops it. */
  routeInvalidate: 'postern.route.invalidate.v1',
  /** Prefix of the config event subjects captured by the {@link Streams.config} stream. */
  configEventPrefix: 'postern.config',
  /** Wildcard over every config event. */
  configEvents: 'postern.config.>',
} as const;

/** Queue groups: instances in one group share the load; each request goes to one of them. */
export const QueueGroups = {
  routeLookup: 'route-lookup',
  loginThrottle: 'login-throttle',
} as const;

/** JetStream stream holding every config event, replayable by sequence or time. */
export const Streams = { config: 'POSTERN_CONFIG' } as const;

/** JetStream key-value bucket holding the current effective config. */
export const KvBuckets = { config: 'postern-config' } as const;
