/**
 * The live sessions of this worker, for the operator and the config-watcher:
 *
 * - `postern.sessions.list.v1` and `postern.sessions.kick.v1` (no queue group: every worker of
 *   every node answers, and `postern sessions` gathers the answers), as Dovecot's `doveadm who`
 *   and `kick`;
 * - `postern.route.invalidate.v1`: an account that is no longer active or was deleted has its
 *   sessions ended (`posternSessionEndOnAccountStatus`, default on), one whose mailbox moved too
 *   when `posternSessionEndOnMove` says so (default off), so its clients reconnect and are routed
 *   again.
 */
import { hostname } from 'node:os';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { BootstrapConfig } from '@postern/config';
import {
  decodePayload,
  encodePayload,
  MAX_SESSIONS_PER_ANSWER,
  RouteInvalidateContract,
  SessionsAnswerSchema,
  SessionsQuerySchema,
  SessionSubjects,
  type MailSessionInfo,
  type RouteInvalidation,
} from '@postern/contracts';
import { BOOTSTRAP, LOGGER, NATS_CONNECTION, ServiceLifecycle, subscribeEvents, type Logger, type NatsConnection } from '@postern/service-kit';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { LiveSessions } from '../server/live-sessions';
import { MailProxyMetrics } from '../mail-proxy.metrics';
import type { SessionDeps } from './session';
import { SESSION_DEPS } from '../session-deps';

/** What a client is told when its session is ended, by why. */
const GOODBYES = {
  kicked: 'Disconnected by the administrator',
  inactive: 'Account is not active',
  deleted: 'Account no longer exists',
  moved: 'Mailbox moved; please reconnect',
} as const;

/** Why the proxy ends an account's sessions on an invalidation, if it does. */
export function endReason(invalidation: RouteInvalidation, endOnStatus: boolean, endOnMove: boolean): keyof typeof GOODBYES | undefined {
  if (invalidation.reason === 'deleted') return endOnStatus ? 'deleted' : undefined;
  if (invalidation.status !== undefined && invalidation.status.toLowerCase() !== 'active') return endOnStatus ? 'inactive' : undefined;
  if (invalidation.reason === 'moved' && endOnMove) return 'moved';
  return undefined;
}

@Injectable()
export class SessionControl implements OnApplicationBootstrap {
  private readonly subscriptions: Subscription[] = [];
  private readonly node: string;

  constructor(
    @Inject(SESSION_DEPS) private readonly deps: SessionDeps,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(BOOTSTRAP) bootstrap: BootstrapConfig,
    private readonly metrics: MailProxyMetrics,
    lifecycle: ServiceLifecycle,
  ) {
    this.node = bootstrap.serverName ?? hostname();
    lifecycle.onShutdown('serving', 'session control', async () => {
      for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    });
  }

  private get live(): LiveSessions {
    if (!this.deps.live) throw new Error('no live-session registry');
    return this.deps.live;
  }

  onApplicationBootstrap(): void {
    this.subscriptions.push(
      this.nc.subscribe(SessionSubjects.list, { callback: (error, msg) => this.answer(error, msg, (user) => this.live.list(user)) }),
      this.nc.subscribe(SessionSubjects.kick, {
        callback: (error, msg) =>
          this.answer(error, msg, (user) => {
            if (user === undefined) return [];
            const ended = this.live.kick([user], GOODBYES.kicked);
            if (ended.length > 0) this.metrics.sessionsEnded.inc({ reason: 'kicked' }, ended.length);
            this.logger.info({ user, sessions: ended.length }, 'sessions kicked');
            return ended;
          }),
      }),
      subscribeEvents(this.nc, RouteInvalidateContract, (invalidation) => this.onInvalidation(invalidation), this.logger),
    );
  }

  private answer(error: Error | null, msg: Msg, run: (user: string | undefined) => MailSessionInfo[]): void {
    if (error) return void this.logger.error({ err: error }, 'sessions subscription error');
    const query = decodePayload(SessionsQuerySchema, msg.data);
    if (!query.ok) return void this.logger.warn({ problem: query.message }, 'dropped a malformed sessions request');
    const sessions = run(query.value.user);
    msg.respond(
      encodePayload(SessionsAnswerSchema, { node: this.node, pid: process.pid, total: sessions.length, sessions: sessions.slice(0, MAX_SESSIONS_PER_ANSWER) }),
    );
  }

  private onInvalidation(invalidation: RouteInvalidation): void {
    const settings = this.deps.settings();
    const reason = endReason(invalidation, settings.posternSessionEndOnAccountStatus, settings.posternSessionEndOnMove);
    if (reason === undefined) return;
    const ended = this.live.kick([...invalidation.accountNames, ...invalidation.logins], GOODBYES[reason]);
    if (ended.length === 0) return;
    this.metrics.sessionsEnded.inc({ reason }, ended.length);
    this.logger.info({ accounts: invalidation.accountNames, reason, sessions: ended.length }, 'sessions ended after an account change');
  }
}
