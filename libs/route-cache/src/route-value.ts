/**
 * Strict codecs for the values RouteCache stores. A value is read back as untrusted input: a foreign
 * writer, a poisoned entry (CVE-2022-27924) or an older layout must not become a route.
 */
import { MAX_ACCOUNT_ID_CHARS, MAX_ADDRESS_CHARS, MAX_ALLOWED_IPS, MAX_HOST_CHARS, MAX_IP_CHARS, MAX_ROUTE_VALUE_BYTES } from './limits';

/** Where an account's mailbox answers, as cached. */
export interface CachedRoute {
  /** Upstream host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** Canonical account name (`user@domain`). */
  readonly accountName: string;
  /** Directory id (zimbraId). */
  readonly accountId: string;
  /** The user name to log in with upstream. */
  readonly upstreamUser: string;
  /** True when the route leaves the mail system (external-route attributes). */
  readonly external: boolean;
  /**
   * The account domain's client allow-list (IPs or CIDRs, `zimbraDomainAllowedIPs`), cached with the
   * route so that a cache hit is checked against it too. Absent or empty: no restriction.
   */
  readonly allowedIps?: readonly string[];
}

/** A decoded value or why it was refused. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ROUTE_SHAPE = objectShape(['host', 'port', 'accountName', 'accountId', 'upstreamUser', 'external'] as const, ['allowedIps'] as const);
const ALIAS_SHAPE = objectShape(['accountName'] as const);
const IP_PATTERN = new RegExp(`^[0-9A-Fa-f.:/]{1,${MAX_IP_CHARS}}$`);
const HOST_PATTERN = new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_HOST_CHARS}}$`);
// Names go to upstream servers in protocol lines: no whitespace, no C0/C1 controls, no DEL.
const NAME_PATTERN = new RegExp(`^[^\\s\\u0000-\\u001f\\u007f-\\u009f]{1,${MAX_ADDRESS_CHARS}}$`, 'u');
const ID_PATTERN = new RegExp(`^[^\\s\\u0000-\\u001f\\u007f-\\u009f]{1,${MAX_ACCOUNT_ID_CHARS}}$`, 'u');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Checks a route's fields; the reason names the first bad field. */
export function checkRoute(input: unknown): Decoded<CachedRoute> {
  const object = exactObject(input, ROUTE_SHAPE);
  if (typeof object === 'string') return { ok: false, reason: object };
  const { host, port, accountName, accountId, upstreamUser, external, allowedIps } = object;
  if (typeof host !== 'string' || !HOST_PATTERN.test(host)) return { ok: false, reason: 'host is not a host name or IP literal' };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) return { ok: false, reason: 'port is not 1..65535' };
  if (!isName(accountName)) return { ok: false, reason: 'accountName is invalid' };
  if (typeof accountId !== 'string' || !ID_PATTERN.test(accountId)) return { ok: false, reason: 'accountId is invalid' };
  if (!isName(upstreamUser)) return { ok: false, reason: 'upstreamUser is invalid' };
  if (typeof external !== 'boolean') return { ok: false, reason: 'external is not a boolean' };
  const route: CachedRoute = { host, port, accountName, accountId, upstreamUser, external };
  if (allowedIps === undefined) return { ok: true, value: route };
  if (!Array.isArray(allowedIps) || allowedIps.length > MAX_ALLOWED_IPS || !allowedIps.every((ip) => typeof ip === 'string' && IP_PATTERN.test(ip))) {
    return { ok: false, reason: `allowedIps is not a list of at most ${MAX_ALLOWED_IPS} IPs or CIDRs` };
  }
  return { ok: true, value: { ...route, allowedIps: [...(allowedIps as string[])] } };
}

/** True for a valid account name or login (no whitespace or control characters, bounded). */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME_PATTERN.test(value);
}

/** Serialises a route whose fields were checked, in a fixed field order. */
export function encodeRoute(route: CachedRoute): string {
  const { host, port, accountName, accountId, upstreamUser, external, allowedIps } = route;
  return JSON.stringify({ host, port, accountName, accountId, upstreamUser, external, ...(allowedIps === undefined ? {} : { allowedIps }) });
}

/** Parses and checks a cached route. */
export function decodeRoute(raw: Buffer): Decoded<CachedRoute> {
  const parsed = parseJson(raw);
  return parsed.ok ? checkRoute(parsed.value) : parsed;
}

/** Serialises an alias entry. */
export function encodeAlias(accountName: string): string {
  return JSON.stringify({ accountName });
}

/** Parses and checks a cached alias entry: the canonical account name. */
export function decodeAlias(raw: Buffer): Decoded<string> {
  const parsed = parseJson(raw);
  if (!parsed.ok) return parsed;
  const object = exactObject(parsed.value, ALIAS_SHAPE);
  if (typeof object === 'string') return { ok: false, reason: object };
  if (!isName(object.accountName)) return { ok: false, reason: 'accountName is invalid' };
  return { ok: true, value: object.accountName };
}

function parseJson(raw: Buffer): Decoded<unknown> {
  if (raw.length > MAX_ROUTE_VALUE_BYTES) return { ok: false, reason: `value larger than ${MAX_ROUTE_VALUE_BYTES} bytes` };
  try {
    return { ok: true, value: JSON.parse(utf8.decode(raw)) as unknown };
  } catch {
    return { ok: false, reason: 'value is not UTF-8 JSON' };
  }
}

/** The fields an object must have, those it may have, and the refusal of any other (built once per kind of value). */
interface ObjectShape<F extends string, O extends string> {
  readonly fields: readonly F[];
  readonly optional: readonly O[];
  readonly allowed: ReadonlySet<string>;
  readonly refusal: string;
}

function objectShape<F extends string, O extends string = never>(fields: readonly F[], optional: readonly O[] = []): ObjectShape<F, O> {
  return {
    fields,
    optional,
    allowed: new Set<string>([...fields, ...optional]),
    refusal: `value must have the fields ${fields.join(', ')}${optional.length > 0 ? ` (optionally ${optional.join(', ')})` : ''} and no others`,
  };
}

/** The object when it has all the shape's fields and no own keys besides those it allows, else why not. */
function exactObject<F extends string, O extends string>(value: unknown, shape: ObjectShape<F, O>): Record<F | O, unknown> | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'value is not an object';
  for (const field of shape.fields) if (!Object.prototype.hasOwnProperty.call(value, field)) return shape.refusal;
  for (const key of Object.keys(value)) if (!shape.allowed.has(key)) return shape.refusal;
  return value as Record<F | O, unknown>;
}
