/** Effective settings: defaults < global config < server config < overrides (config file). */
import { ConfigValueError, type SettingDefinition } from './setting';
import { oauthSettingsProblem } from './oauth-settings';
import { findSetting, Settings, type EffectiveSettings, type SettingName } from './settings';

/** Attribute values by name, as read from a directory entry. */
export type AttributeValues = Readonly<Record<string, readonly string[]>>;

export interface ConfigSources {
  /** The directory's global config entry. Attributes Postern does not read are ignored. */
  readonly global?: AttributeValues;
  /** This node's server entry (matched by `zimbraServiceHostname`). */
  readonly server?: AttributeValues;
  /** Overrides from the config file: attribute name → value (JSON scalar or array). Unknown names are errors. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Every problem found in one pass, so an operator fixes them all at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly ConfigValueError[] | readonly Error[]) {
    super(`invalid configuration:\n  ${problems.map((p) => p.message).join('\n  ')}`);
  }
}

function layer(into: Map<string, readonly unknown[]>, values: AttributeValues | undefined): void {
  if (!values) return;
  for (const [name, v] of Object.entries(values)) {
    const def = findSetting(name);
    if (def && v.length > 0) into.set(def.attribute, v);
  }
}

/**
 * Resolves every setting; throws {@link ConfigError} naming each invalid attribute and what it
 * accepts. Also checks the rules that span settings (mail modes, the proxy's OAuth token check).
 */
export function resolveSettings(sources: ConfigSources): EffectiveSettings {
  const raw = new Map<string, readonly unknown[]>();
  layer(raw, sources.global);
  layer(raw, sources.server);
  const problems: Error[] = [];
  for (const [name, value] of Object.entries(sources.overrides ?? {})) {
    const def = findSetting(name);
    if (!def) {
      problems.push(new Error(`${name}: unknown setting`));
      continue;
    }
    raw.set(def.attribute, Array.isArray(value) && !(def.default instanceof Array) ? value : [value]);
  }
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(Settings) as [SettingName, SettingDefinition<unknown>][]) {
    const values = raw.get(def.attribute);
    if (values === undefined) {
      out[key] = def.default;
      continue;
    }
    try {
      out[key] = def.parse(values);
    } catch (error) {
      problems.push(error as Error);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const settings = out as EffectiveSettings;
  const modeProblem = checkProxyMailMode(settings.zimbraReverseProxySSLToUpstreamEnabled, settings.zimbraReverseProxyMailMode);
  if (modeProblem) throw new ConfigError([modeProblem]);
  const oauthProblem = oauthSettingsProblem(settings);
  if (oauthProblem) throw new ConfigError([oauthProblem]);
  return settings;
}

/** The proxy-side mail modes allowed for each upstream scheme (Zimbra's proxy manual). */
export const ALLOWED_PROXY_MAIL_MODES = {
  ssl: ['both', 'https', 'mixed', 'redirect'],
  plain: ['both', 'http'],
} as const;

/** For each proxy mail mode, the mailbox `zimbraMailMode` values that work behind it. */
export const ALLOWED_MAILBOX_MAIL_MODES: Readonly<Record<string, readonly string[]>> = {
  both: ['both'],
  https: ['both', 'https'],
  mixed: ['both'],
  redirect: ['both', 'https'],
  http: ['both', 'http'],
};

/** Checks `zimbraReverseProxyMailMode` against `zimbraReverseProxySSLToUpstreamEnabled`. */
export function checkProxyMailMode(sslToUpstream: boolean, proxyMode: string): ConfigValueError | undefined {
  const allowed: readonly string[] = sslToUpstream ? ALLOWED_PROXY_MAIL_MODES.ssl : ALLOWED_PROXY_MAIL_MODES.plain;
  if (allowed.includes(proxyMode)) return undefined;
  return new ConfigValueError(
    'zimbraReverseProxyMailMode',
    proxyMode,
    `with zimbraReverseProxySSLToUpstreamEnabled=${sslToUpstream ? 'TRUE' : 'FALSE'}: ${allowed.join(', ')}`,
  );
}

/** Checks a mailbox server's `zimbraMailMode` against the proxy's settings. */
export function checkMailboxMailMode(sslToUpstream: boolean, proxyMode: string, mailboxMode: string): ConfigValueError | undefined {
  const proxyProblem = checkProxyMailMode(sslToUpstream, proxyMode);
  if (proxyProblem) return proxyProblem;
  const allowed = ALLOWED_MAILBOX_MAIL_MODES[proxyMode] ?? [];
  if (allowed.includes(mailboxMode)) return undefined;
  return new ConfigValueError('zimbraMailMode', mailboxMode, `behind zimbraReverseProxyMailMode=${proxyMode}: ${allowed.join(', ')}`);
}

/**
 * The seed's table as `zmtlsctl` states a refusal: undefined when the three values work together,
 * else a sentence naming all three and what would be accepted.
 */
export function mailModeProblem(sslToUpstream: boolean, proxyMode: string, mailboxMode: string): string | undefined {
  const problem = checkMailboxMailMode(sslToUpstream, proxyMode, mailboxMode);
  if (!problem) return undefined;
  return (
    `zimbraReverseProxySSLToUpstreamEnabled=${sslToUpstream ? 'TRUE' : 'FALSE'}, zimbraReverseProxyMailMode=${proxyMode}, ` +
    `zimbraMailMode=${mailboxMode} is not a supported combination; ${problem.attribute} accepted ${problem.accepted}`
  );
}
