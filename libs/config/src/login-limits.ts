/**
 * How Zimbra's login-limit attributes combine, read the same way by the throttle service (which
 * counts) and the frontends (which skip asking when no limit is on).
 */
import type { EffectiveSettings } from './settings';

/** The protocols a login limit is kept for. */
export type LimitedProtocol = 'imap' | 'pop3' | 'http';

/** The IP login limit one protocol is under, and the counter it uses. */
export interface IpLoginLimit {
  /** The counter: the protocol's own, or `any`, shared by every protocol without a limit of its own. */
  readonly scope: LimitedProtocol | 'any';
  /** Logins per address per window; 0 = off. */
  readonly limit: number;
  readonly windowSeconds: number;
}

/**
 * A per-protocol limit above 0 (`zimbraReverseProxyIPLogin{Imap,Pop3}Limit`) replaces the generic
 * `zimbraReverseProxyIPLoginLimit` and its window for that protocol, with its own counter.
 * Protocols without one share the generic counter: the attribute's documented meaning (an
 * aggregate), where Zimbra's code keeps one generic counter per protocol.
 */
export function ipLoginLimit(s: EffectiveSettings, protocol: LimitedProtocol): IpLoginLimit {
  const own =
    protocol === 'imap'
      ? { limit: s.zimbraReverseProxyIPLoginImapLimit, windowSeconds: s.zimbraReverseProxyIPLoginImapLimitTime }
      : protocol === 'pop3'
        ? { limit: s.zimbraReverseProxyIPLoginPop3Limit, windowSeconds: s.zimbraReverseProxyIPLoginPop3LimitTime }
        : undefined;
  if (own && own.limit > 0) return { scope: protocol, ...own };
  return { scope: 'any', limit: s.zimbraReverseProxyIPLoginLimit, windowSeconds: s.zimbraReverseProxyIPLoginLimitTime };
}
