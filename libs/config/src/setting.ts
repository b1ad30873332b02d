/**
 * A setting: a Zimbra attribute name with a type, a default and whether it reloads hot.
 *
 * Values arrive as LDAP strings (`TRUE`, `10s`, `7143`), from a config file as JSON values, or as
 * environment strings; each type knows how to read all three and says what it accepts when it can't.
 */

/** Where a setting may be set in the directory. Server values override global ones. */
export type SettingScope = 'global' | 'server' | 'global+server' | 'domain';

/** A value that could not be read; carries the attribute name and what would have been accepted. */
export class ConfigValueError extends Error {
  override readonly name = 'ConfigValueError';
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly attribute: string,
    readonly value: unknown,
    readonly accepted: string,
  ) {
    super(`${attribute}: invalid value ${JSON.stringify(value)}; accepted: ${accepted}`);
  }
}

export interface SettingDefinition<T> {
  /** The Zimbra attribute name, which is also the key in config files and the KV bucket. */
  readonly attribute: string;
  readonly default: T;
  /** True when a running service picks up a change without a restart. */
  readonly hot: boolean;
  readonly scope: SettingScope;
  readonly description: string;
  /** Human description of the accepted values, used in error messages. */
  readonly accepted: string;
  /** The default as an operator writes it, where that differs from its value (a duration: `60m`, not 3600000). */
  readonly defaultText?: string;
  /** Reads directory values (or a file value wrapped in an array); throws {@link ConfigValueError}. */
  parse(values: readonly unknown[]): T;
}

type Common = { attribute: string; hot: boolean; scope: SettingScope; description: string };

function single(def: Common, accepted: string, values: readonly unknown[]): unknown {
  if (values.length !== 1) throw new ConfigValueError(def.attribute, values, `exactly one value: ${accepted}`);
  return values[0];
}

export function booleanSetting(def: Common & { default: boolean }): SettingDefinition<boolean> {
  const accepted = 'TRUE or FALSE';
  return {
    ...def,
    accepted,
    parse(values) {
      const v = single(def, accepted, values);
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
      throw new ConfigValueError(def.attribute, v, accepted);
    },
  };
}

export function integerSetting(def: Common & { default: number; min: number; max: number }): SettingDefinition<number> {
  const accepted = `an integer from ${def.min} to ${def.max}`;
  return {
    ...def,
    accepted,
    parse(values) {
      const v = single(def, accepted, values);
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
      if (!Number.isSafeInteger(n) || n < def.min || n > def.max) throw new ConfigValueError(def.attribute, v, accepted);
      return n;
    },
  };
}

/** A TCP port; 0 is not a port. */
export function portSetting(def: Common & { default: number }): SettingDefinition<number> {
  return integerSetting({ ...def, min: 1, max: 65535 });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a Zimbra duration (`10s`, `1h`, `3600000ms`, `2d`; a bare number is seconds, as in Zimbra)
 * into milliseconds.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|[smhd])?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 's').toLowerCase();
  const ms = Number(match[1]) * (DURATION_UNITS[unit] ?? NaN);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Milliseconds as an operator writes a duration: the largest unit that divides them (`1s`, `90m`, `500ms`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration, held in milliseconds. */
export function durationSetting(def: Common & { default: string; maxMs?: number }): SettingDefinition<number> {
  const maxMs = def.maxMs ?? 365 * DURATION_UNITS.d!;
  const accepted = 'a duration such as 500ms, 10s, 5m, 1h or 1d (a bare number is seconds)';
  const parsedDefault = parseDuration(def.default);
  if (parsedDefault === undefined) throw new Error(`bad default for ${def.attribute}`);
  return {
    ...def,
    default: parsedDefault,
    defaultText: def.default,
    accepted,
    parse(values) {
      const v = single(def, accepted, values);
      const ms = typeof v === 'number' ? v * 1000 : typeof v === 'string' ? parseDuration(v) : undefined;
      if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > maxMs) throw new ConfigValueError(def.attribute, v, accepted);
      return ms;
    },
  };
}

export function stringSetting(def: Common & { default: string; maxLength?: number; pattern?: RegExp; accepted?: string }): SettingDefinition<string> {
  const accepted = def.accepted ?? (def.pattern ? `text matching ${def.pattern}` : 'text');
  const maxLength = def.maxLength ?? 4096;
  return {
    ...def,
    accepted,
    parse(values) {
      const v = single(def, accepted, values);
      if (typeof v !== 'string' || v.length > maxLength || (def.pattern && !def.pattern.test(v))) throw new ConfigValueError(def.attribute, v, accepted);
      return v;
    },
  };
}

export function enumSetting<const V extends string>(def: Common & { default: V; values: readonly V[] }): SettingDefinition<V> {
  const accepted = `one of ${def.values.join(', ')}`;
  return {
    ...def,
    accepted,
    parse(values) {
      const v = single(def, accepted, values);
      const found = typeof v === 'string' ? def.values.find((x) => x.toLowerCase() === v.trim().toLowerCase()) : undefined;
      if (found === undefined) throw new ConfigValueError(def.attribute, v, accepted);
      return found;
    },
  };
}

/** A multi-valued attribute. Each value is checked by `item` when given. */
export function listSetting(
  def: Common & { default: readonly string[]; item?: { test(value: string): boolean; accepted: string } },
): SettingDefinition<readonly string[]> {
  const accepted = def.item ? `a list of ${def.item.accepted}` : 'a list of text values';
  return {
    ...def,
    accepted,
    parse(values) {
      const flat = values.length === 1 && Array.isArray(values[0]) ? (values[0] as unknown[]) : values;
      return flat.map((v) => {
        if (typeof v !== 'string' || (def.item && !def.item.test(v))) throw new ConfigValueError(def.attribute, v, accepted);
        return v;
      });
    },
  };
}
