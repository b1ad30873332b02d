/**
 * The spliced sessions of this process, by account: what `postern sessions list` shows (as
 * Dovecot's `doveadm who`), and what is ended when an account is kicked, closed or moved.
 */
import type { MailSessionInfo } from '@postern/contracts';

/** A spliced session as the registry holds it. */
export interface LiveSession {
  readonly info: Omit<MailSessionInfo, 'node' | 'pid'>;
  /** Ends the session with the protocol's goodbye (`* BYE text` / `-ERR text`). */
  kick(text: string): void;
}

export class LiveSessions {
  private readonly sessions = new Map<string, LiveSession>();

  constructor(
    private readonly node: string,
    private readonly pid: number = process.pid,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Holds `session` until the returned function is called (when it ends). */
  add(session: LiveSession): () => void {
    this.sessions.set(session.info.id, session);
    return () => this.sessions.delete(session.info.id);
  }

  /** The sessions of `user` (a login or an account name, any case), or all. */
  list(user?: string): MailSessionInfo[] {
    return this.matching(user === undefined ? undefined : [user]).map((s) => ({ ...s.info, node: this.node, pid: this.pid }));
  }

  /** Ends every session of any of `users` (logins or account names); returns what was ended. */
  kick(users: readonly string[], text: string): MailSessionInfo[] {
    const ended = this.matching(users);
    for (const session of ended) session.kick(text);
    return ended.map((s) => ({ ...s.info, node: this.node, pid: this.pid }));
  }

  private matching(users: readonly string[] | undefined): LiveSession[] {
    const all = [...this.sessions.values()];
    if (users === undefined) return all;
    const wanted = new Set(users.map((u) => u.toLowerCase()));
    return all.filter((s) => wanted.has(s.info.user.toLowerCase()) || wanted.has(s.info.accountName.toLowerCase()));
  }
}
