/**
 * The throttle's settings: Zimbra's (`zimbraReverseProxyIPLogin*`, `...UserLogin*`, messages,
 * whitelist, memcached timeouts) from `@postern/config`, plus Postern's own failed-login limits
 * and fail mode, defined here with the same helpers until they move into `libs/config`.
 *
 * Every setting here is hot: a SIGHUP re-reads the config file and the next check uses the new
 * values. Only the memcached timeouts are read once (the client is built at boot).
 */
import {
  booleanSetting,
  ConfigError,
  IpMatcher,
  integerSetting,
  resolveSettings,
  type EffectiveSettings,
  type SettingDefinition,
} from '@postern/config';
import type { LoginProtocol } from '@postern/contracts';

const gs = 'global+server' as const;
/** Same bounds as Zimbra's login limits: 0 turns the limit off. */
const MAX_LIMIT = 1_000_000_000;
/** Same bound as Zimbra's `...LimitTime` attributes: one year in seconds. */
const MAX_WINDOW_SECONDS = 31_536_000;
/** 15 minutes: long enough to slow a password-guessing run, short enough that a user who mistyped gets back in soon. */
const DEFAULT_FAILURE_WINDOW_SECONDS = 900;

/** Postern-specific throttle settings (not Zimbra attributes). */
export const PosternThrottleSettings = {
  posternFailedLoginUserLimit: integerSetting({ attribute: 'posternFailedLoginUserLimit', default: 0, min: 0, max: MAX_LIMIT, hot: true, scope: gs, description: 'Failed logins per user per window before pre-login checks for that user are refused (0 = off). Lets a stranger lock a user out: keep it off or high.' }),
  posternFailedLoginUserLimitTime: integerSetting({ attribute: 'posternFailedLoginUserLimitTime', default: DEFAULT_FAILURE_WINDOW_SECONDS, min: 1, max: MAX_WINDOW_SECONDS, hot: true, scope: gs, description: 'Per-user failed-login window in seconds.' }),
  posternFailedLoginIpLimit: integerSetting({ attribute: 'posternFailedLoginIpLimit', default: 0, min: 0, max: MAX_LIMIT, hot: true, scope: gs, description: 'Failed logins per client IP (IPv6: per /64) per window before pre-login checks from it are refused (0 = off).' }),
  posternFailedLoginIpLimitTime: integerSetting({ attribute: 'posternFailedLoginIpLimitTime', default: DEFAULT_FAILURE_WINDOW_SECONDS, min: 1, max: MAX_WINDOW_SECONDS, hot: true, scope: gs, description: 'Per-IP failed-login window in seconds.' }),
  posternThrottleFailClosed: booleanSetting({ attribute: 'posternThrottleFailClosed', default: false, hot: true, scope: gs, description: 'When memcached cannot answer: FALSE allows (as Zimbra), TRUE denies with the IP throttle message.' }),
} as const satisfies Record<string, SettingDefinition<unknown>>;

export type PosternThrottleSettingName = keyof typeof PosternThrottleSettings;
export type PosternThrottleValues = { readonly [K in PosternThrottleSettingName]: (typeof PosternThrottleSettings)[K] extends SettingDefinition<infer T> ? T : never };

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
  readonly zimbra: EffectiveSettings;
  readonly postern: PosternThrottleValues;
  readonly config: ThrottleConfig;
}

function findPostern(name: string): SettingDefinition<unknown> | undefined {
  const lower = name.toLowerCase();
  return (Object.values(PosternThrottleSettings) as SettingDefinition<unknown>[]).find((def) => def.attribute.toLowerCase() === lower);
}

/**
 * Resolves Zimbra defaults < config-file attributes. Postern's names are taken out before the rest
 * goes to `resolveSettings` (which refuses names it does not know).
 * @throws {ConfigError} naming every invalid attribute at once.
 */
export function resolveThrottleSettings(attributes: Readonly<Record<string, unknown>>): ResolvedThrottleSettings {
  const zimbraOverrides: Record<string, unknown> = {};
  const posternRaw = new Map<string, readonly unknown[]>();
  for (const [name, value] of Object.entries(attributes)) {
    const def = findPostern(name);
    if (def) posternRaw.set(def.attribute, Array.isArray(value) ? value : [value]);
    else zimbraOverrides[name] = value;
  }
  const problems: Error[] = [];
  const postern: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(PosternThrottleSettings) as [PosternThrottleSettingName, SettingDefinition<unknown>][]) {
    const raw = posternRaw.get(def.attribute);
    try {
      postern[key] = raw === undefined ? def.default : def.parse(raw);
    } catch (error) {
      problems.push(error as Error);
    }
  }
  let zimbra: EffectiveSettings | undefined;
  try {
    zimbra = resolveSettings({ overrides: zimbraOverrides });
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    else throw error;
  }
  let whitelist: IpMatcher | undefined;
  if (zimbra) {
    try {
      whitelist = new IpMatcher(zimbra.zimbraReverseProxyIPThrottleWhitelist);
    } catch (error) {
      problems.push(new Error(`zimbraReverseProxyIPThrottleWhitelist: ${(error as Error).message}`));
    }
  }
  if (problems.length > 0 || !zimbra || !whitelist) throw new ConfigError(problems);
  const values = postern as PosternThrottleValues;
  return { zimbra, postern: values, config: throttleConfig(zimbra, values, whitelist) };
}

const SECOND_MS = 1000;

/**
 * A per-protocol limit above 0 replaces the generic limit and its window for that protocol, with
 * its own counter. Protocols without one share the generic counter: the attribute's documented
 * meaning (an aggregate), where Zimbra's code keeps one generic counter per protocol.
 */
export function throttleConfig(z: EffectiveSettings, p: PosternThrottleValues, whitelist: IpMatcher): ThrottleConfig {
  const generic: IpLimit = { scope: 'any', limit: z.zimbraReverseProxyIPLoginLimit, windowMs: z.zimbraReverseProxyIPLoginLimitTime * SECOND_MS };
  const own = (scope: LoginProtocol, limit: number, seconds: number): IpLimit => (limit > 0 ? { scope, limit, windowMs: seconds * SECOND_MS } : generic);
  return {
    ip: {
      imap: own('imap', z.zimbraReverseProxyIPLoginImapLimit, z.zimbraReverseProxyIPLoginImapLimitTime),
      pop3: own('pop3', z.zimbraReverseProxyIPLoginPop3Limit, z.zimbraReverseProxyIPLoginPop3LimitTime),
      http: generic,
    },
    user: { limit: z.zimbraReverseProxyUserLoginLimit, windowMs: z.zimbraReverseProxyUserLoginLimitTime * SECOND_MS },
    userFailures: { limit: p.posternFailedLoginUserLimit, windowMs: p.posternFailedLoginUserLimitTime * SECOND_MS },
    ipFailures: { limit: p.posternFailedLoginIpLimit, windowMs: p.posternFailedLoginIpLimitTime * SECOND_MS },
    whitelist,
    ipMessage: z.zimbraReverseProxyIpThrottleMsg,
    userMessage: z.zimbraReverseProxyUserThrottleMsg,
    failClosed: p.posternThrottleFailClosed,
    checkBudgetMs: z.zimbraReverseProxyCacheFetchTimeout,
  };
}
