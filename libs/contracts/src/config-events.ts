/**
 * Config events, the effective config, route invalidations and the sessions of the mail proxies.
 *
 * - The JetStream stream {@link ConfigStream} holds one {@link ConfigEvent} per change the
 *   config-watcher saw in the directory (and each rejected change, and each roll-back), published
 *   with the directory's CSN as the message id, so several watchers store each change once.
 * - The KV bucket {@link ConfigBucket} holds the effective config: a {@link ConfigEntry} per global
 *   config, server and domain, the watcher's cursor and its heartbeat. Services watch it.
 * - `postern.route.invalidate.v1` tells every holder of a cached route that an account changed.
 * - `postern.sessions.*.v1` asks every mail-proxy worker for its live sessions, or to end some.
 *
 * Secrets never travel here: account entries carry only routing attributes, and a domain's
 * `zimbraSSLPrivateKey` is replaced by its SHA-256 (services read the key from the directory).
 */
import { z } from 'zod';
import { LoginSchema, MAX_LOGIN_LENGTH } from './common';
import { defineEvent } from './envelope';

/** The JetStream stream of config events and the subjects it captures. */
export const ConfigStream = {
  name: 'POSTERN_CONFIG',
  subjects: 'postern.config.>',
  /** JetStream's de-duplication window: a change published again within it is stored once. */
  duplicateWindowMs: 10 * 60_000,
} as const;

/** The KV bucket of the effective config and the watcher's state. */
export const ConfigBucket = {
  name: 'postern-config',
  /** The global config entry. */
  globalKey: 'global',
  /** `server.<zimbraServiceHostname>` */
  serverPrefix: 'server.',
  /** `domain.<zimbraDomainName>` */
  domainPrefix: 'domain.',
  /** The watcher's cursor in the directory's change log. */
  cursorKey: 'watcher.cursor',
  /** The time the watcher last read the directory successfully. */
  heartbeatKey: 'watcher.heartbeat',
} as const;

/** What a config entry is. */
export const ConfigScopeSchema = z.enum(['global', 'server', 'domain', 'account']);
export type ConfigScope = z.infer<typeof ConfigScopeSchema>;

/** Attribute values by attribute name, as in the directory. */
export const AttributeMapSchema = z.record(z.string().min(1).max(128), z.array(z.string()));
export type AttributeMap = z.infer<typeof AttributeMapSchema>;

/** Where a change was seen. */
export const ConfigSourceSchema = z.enum(['accesslog', 'poll', 'ldif', 'reconcile', 'rollback']);
export type ConfigSource = z.infer<typeof ConfigSourceSchema>;

export const ConfigEventSchema = z
  .object({
    /** `change`: applied; `rejected`: refused by validation (with `reason`); `rollback`: re-published by `postern events replay --apply`. */
    kind: z.enum(['change', 'rejected', 'rollback']),
    scope: ConfigScopeSchema,
    /** The entry's name: `global`, a server's `zimbraServiceHostname`, a domain name, an account's name. */
    entry: z.string().min(1).max(512),
    dn: z.string().max(2048),
    op: z.enum(['add', 'modify', 'delete', 'rename']),
    /** Attribute names that differ between `before` and `after`. */
    changed: z.array(z.string()),
    before: AttributeMapSchema.nullable(),
    after: AttributeMapSchema.nullable(),
    /** The directory's change sequence number (entryCSN), or a digest for a source without one. */
    csn: z.string().min(1).max(128),
    /** When the directory made the change (ISO 8601). */
    time: z.string(),
    /** When the watcher published it (ISO 8601). */
    publishedAt: z.string(),
    source: ConfigSourceSchema,
    reason: z.string().max(4096).optional(),
  })
  .strict();
export type ConfigEvent = z.infer<typeof ConfigEventSchema>;

/** The subject of an event: `postern.config.<scope>.v1`, rejected ones on `postern.config.rejected.v1`. */
export function configEventSubject(event: Pick<ConfigEvent, 'kind' | 'scope'>): string {
  return event.kind === 'rejected' ? 'postern.config.rejected.v1' : `postern.config.${event.scope}.v1`;
}

/** A value in the KV bucket for a global, server or domain entry: the effective attributes. */
export const ConfigEntrySchema = z
  .object({
    scope: ConfigScopeSchema.exclude(['account']),
    entry: z.string().min(1).max(512),
    dn: z.string().max(2048),
    attributes: AttributeMapSchema,
    /** The stream sequence of the event that set this value (0: none yet). */
    sequence: z.number().int().min(0),
    csn: z.string().max(128),
    /** When the directory made the change (ISO 8601). */
    time: z.string(),
  })
  .strict();
export type ConfigEntry = z.infer<typeof ConfigEntrySchema>;

/** The watcher's heartbeat: the last successful read of the directory. */
export const WatcherHeartbeatSchema = z
  .object({
    time: z.string(),
    watcher: z.string().max(256),
    /** The newest stream sequence among the bucket's entries when it was written: what a node that is up to date runs on. */
    sequence: z.number().int().min(0).optional(),
  })
  .strict();
export type WatcherHeartbeat = z.infer<typeof WatcherHeartbeatSchema>;

/** The KV key of an entry: global, `server.<name>`, `domain.<name>`. */
export function configKey(scope: 'global' | 'server' | 'domain', entry: string): string {
  if (scope === 'global') return ConfigBucket.globalKey;
  const name = entry.toLowerCase();
  if (!/^[a-z0-9._-]+$/.test(name)) throw new Error(`${scope} name ${JSON.stringify(entry)} cannot be a config key`);
  return `${scope === 'server' ? ConfigBucket.serverPrefix : ConfigBucket.domainPrefix}${name}`;
}

/** Why a route was invalidated. */
export const InvalidationReasonSchema = z.enum(['moved', 'changed', 'status', 'alias', 'renamed', 'deleted', 'external-route', 'purge']);
export type InvalidationReason = z.infer<typeof InvalidationReasonSchema>;

export const RouteInvalidationSchema = z
  .object({
    /** The account's names before and after the change (its canonical names). */
    accountNames: z.array(LoginSchema).max(64),
    accountId: z.string().max(64).optional(),
    /** Every login (alias) that may have been cached for it. */
    logins: z.array(LoginSchema).max(1024),
    reason: InvalidationReasonSchema,
    /** The account's `zimbraAccountStatus` after the change, when known. */
    status: z.string().max(32).optional(),
  })
  .strict();
export type RouteInvalidation = z.infer<typeof RouteInvalidationSchema>;

/** `postern.route.invalidate.v1`: every cache holder drops the account's routes and aliases. */
export const RouteInvalidateContract = defineEvent({ subject: 'postern.route.invalidate.v1', event: RouteInvalidationSchema });

/** One live mail session, as `postern sessions list` shows it. */
export const MailSessionInfoSchema = z
  .object({
    id: z.string(),
    node: z.string(),
    pid: z.number().int(),
    protocol: z.enum(['imap', 'pop3']),
    user: z.string(),
    accountName: z.string(),
    clientIp: z.string(),
    upstream: z.string(),
    since: z.string(),
  })
  .strict();
export type MailSessionInfo = z.infer<typeof MailSessionInfoSchema>;

/** Request of `postern.sessions.list.v1` and `postern.sessions.kick.v1` (every mail-proxy worker answers). */
export const SessionsQuerySchema = z.object({ user: z.string().max(MAX_LOGIN_LENGTH).optional() }).strict();
export type SessionsQuery = z.infer<typeof SessionsQuerySchema>;
/** The most sessions one answer carries (a NATS message is bounded); `total` says how many there are. */
export const MAX_SESSIONS_PER_ANSWER = 200;
export const SessionsAnswerSchema = z
  .object({ node: z.string(), pid: z.number().int(), total: z.number().int().min(0), sessions: z.array(MailSessionInfoSchema).max(MAX_SESSIONS_PER_ANSWER) })
  .strict();
export type SessionsAnswer = z.infer<typeof SessionsAnswerSchema>;

export const SessionSubjects = {
  list: 'postern.sessions.list.v1',
  kick: 'postern.sessions.kick.v1',
} as const;
