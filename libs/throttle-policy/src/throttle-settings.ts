/**
 * The throttle's settings, all from `@postern/config`: Zimbra's (`zimbraReverseProxyIPLogin*`,
 * `...UserLogin*`, messages, whitelist, memcached timeouts) and Postern's own failed-login limits
 * and fail mode (`posternFailedLogin*`, `posternThrottleFailClosed`).
 *
 * Every setting here is hot: a SIGHUP re-reads the config file and the next check uses the new
 * values. Only the memcached timeouts are read once (the client is built at boot).
 */
import { ConfigError, ipLoginLimit, resolveSettings, type ConfigSources, type EffectiveSettings } from '@postern/config';
import { IpMatcher } from '@postern/ip-address';
import type { LoginProtocol } from '@postern/contracts';

/** One limit: at most `limit` events in any `windowMs`; `limit` 0 = off. */
export interface WindowLimit {
  readonly limit: number;
  readonly windowMs: number;
}

/** An IP connection limit and the counter it uses (`any` is shared by protocols without their own limit). */
export interface IpLimit extends WindowLimit {
  readonly scope: LoginProtocol | 'any';
}

/** Everything a check needs, derived once per (re)load. */
export interface ThrottleConfig {
  readonly ip: Readonly<Record<LoginProtocol, IpLimit>>;
  readonly user: WindowLimit;
  readonly userFailures: WindowLimit;
  readonly ipFailures: WindowLimit;
  /** `zimbraReverseProxyIPThrottleWhitelist`: never counted, never denied by IP. */
  readonly whitelist: IpMatcher;
  readonly ipMessage: string;
  readonly userMessage: string;
  readonly failClosed: boolean;
  /** Longest a check may take in the service: the memcached fetch timeout. */
  readonly checkBudgetMs: number;
}

export interface ResolvedThrottleSettings {
  readonly settings: EffectiveSettings;
  readonly config: ThrottleConfig;
}

/**
 * Resolves defaults < config-file attributes and derives the throttle's config.
 * @throws {ConfigError} naming every invalid attribute at once.
 */
export function resolveThrottleSettings(
  attributes: Readonly<Record<string, unknown>>,
  layers: Omit<ConfigSources, 'overrides'> = {},
): ResolvedThrottleSettings {
  const settings = resolveSettings({ ...layers, overrides: attributes });
  let whitelist: IpMatcher;
  try {
    whitelist = new IpMatcher(settings.zimbraReverseProxyIPThrottleWhitelist);
  } catch (error) {
    throw new ConfigError([new Error(`zimbraReverseProxyIPThrottleWhitelist: ${(error as Error).message}`)]);
  }
  return { settings, config: throttleConfig(settings, whitelist) };
}

const SECOND_MS = 1000;

/** The throttle's rules from already validated settings (the whitelist was checked when they were read). */
export function throttleConfigOf(settings: EffectiveSettings): ThrottleConfig {
  return throttleConfig(settings, new IpMatcher(settings.zimbraReverseProxyIPThrottleWhitelist));
}

/** The throttle's rules from the settings; the IP limit per protocol is config's {@link ipLoginLimit}. */
export function throttleConfig(z: EffectiveSettings, whitelist: IpMatcher): ThrottleConfig {
  const ip = (protocol: LoginProtocol): IpLimit => {
    const { scope, limit, windowSeconds } = ipLoginLimit(z, protocol);
    return { scope, limit, windowMs: windowSeconds * SECOND_MS };
  };
  return {
    ip: { imap: ip('imap'), pop3: ip('pop3'), http: ip('http') },
    user: { limit: z.zimbraReverseProxyUserLoginLimit, windowMs: z.zimbraReverseProxyUserLoginLimitTime * SECOND_MS },
    userFailures: { limit: z.posternFailedLoginUserLimit, windowMs: z.posternFailedLoginUserLimitTime * SECOND_MS },
    ipFailures: { limit: z.posternFailedLoginIpLimit, windowMs: z.posternFailedLoginIpLimitTime * SECOND_MS },
    whitelist,
    ipMessage: z.zimbraReverseProxyIpThrottleMsg,
    userMessage: z.zimbraReverseProxyUserThrottleMsg,
    failClosed: z.posternThrottleFailClosed,
    checkBudgetMs: z.zimbraReverseProxyCacheFetchTimeout,
  };
}
