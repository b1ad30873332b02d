/**
 * The small rules of the web data path, apart from its machinery (request-flow.ts, upstream-carrier.ts): which pool
 * server a client goes to, how long a route may take to answer, the Host name, the headers every
 * response gets, and how failures are told.
 */
import type { EffectiveSettings } from '@postern/config';
import { addressBytes } from '@postern/ip-address';
import type { RouteKind } from './web-exchange';
import type { WebRequest } from './web-listeners';

/**
 * Zimbra's IP hash (its upstream module's, for web clients without a route): start at 89, each
 * byte of the address: h = (h × 113 + byte) mod 6271; the server is h mod n. A server that is out
 * (`up` says no) is skipped for the next in the pool; when all are out, the hash's own choice.
 */
export function poolMember(pool: readonly string[], clientIp: string, up: (member: string) => boolean = () => true): string | undefined {
  if (pool.length === 0) return undefined;
  let h = 89;
  for (const byte of addressBytes(clientIp)) h = (h * 113 + byte) % 6271;
  const first = h % pool.length;
  for (let i = 0; i < pool.length; i++) {
    const member = pool[(first + i) % pool.length]!;
    if (up(member)) return member;
  }
  return pool[first];
}

/**
 * The read timeout of a request: the long-poll routes hold a request open until there is news
 * (ActiveSync and EWS up to `zimbraReverseProxyUpstreamPollingTimeout`, WaitSet and NoOp up to
 * `posternWebWaitSetTimeout`); everything else `zimbraReverseProxyUpstreamReadTimeout`.
 */
export function readTimeoutOf(kind: RouteKind, target: string, s: EffectiveSettings): number {
  const query = target.indexOf('?');
  const path = (query < 0 ? target : target.slice(0, query)).toLowerCase();
  if (kind === 'activesync' || kind === 'ews' || path === '/microsoft-server-activesync' || path.startsWith('/ews/'))
    return s.zimbraReverseProxyUpstreamPollingTimeout;
  if (path === '/service/soap/waitsetrequest' || path === '/service/soap/nooprequest') return s.posternWebWaitSetTimeout;
  return s.zimbraReverseProxyUpstreamReadTimeout;
}

/** `host:port` (IPv6 in brackets) → host and port. */
export function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}

/** The header objects of the `zimbraReverseProxyResponseHeaders` lists seen, by list: built once per settings change, not per response. */
const addedByList = new WeakMap<readonly string[], Readonly<Record<string, string>>>();

/** `zimbraReverseProxyResponseHeaders` as a header object (shared: read it, do not change it). */
export function addedHeaders(s: EffectiveSettings): Readonly<Record<string, string>> {
  const lines = s.zimbraReverseProxyResponseHeaders;
  let out = addedByList.get(lines);
  if (!out) {
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
    out = Object.freeze(headers);
    addedByList.set(lines, out);
  }
  return out;
}

/** A failure to reach the server at all (nothing of the request was delivered): the route may be stale. */
export function isConnectFailure(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'].includes(code);
}

/**
 * A failure of the mailbox server itself, which counts against it in the pool: no connection,
 * a refused or failed TLS handshake, a reset, no answer in time. Not what the proxy's own code or
 * libraries refused before anything reached the server, nor a client that left.
 */
export function isServerFailure(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return (
    isConnectFailure(error) ||
    ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'HPE_INVALID_CONSTANT'].includes(code) ||
    /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/.test(code)
  );
}

/**
 * Whether a request carries a body (which, once streamed, cannot be sent again elsewhere): an
 * HTTP/1.1 length or chunking, or an HTTP/2 stream still open after its headers.
 */
export function hasBody(request: WebRequest): boolean {
  if ('stream' in request) return !request.stream.endAfterHeaders;
  return request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
}

/** The route protocol of the web upstream: its TLS port when `zimbraReverseProxySSLToUpstreamEnabled`. */
export function upstreamProtocol(s: EffectiveSettings): 'http' | 'httpssl' {
  return s.zimbraReverseProxySSLToUpstreamEnabled ? 'httpssl' : 'http';
}

export function upstreamFailureStatus(error: unknown): 502 | 504 {
  const code = (error as { code?: string }).code ?? '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 504 : 502;
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

export function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join('; ') : value;
}

/** The last Host header read and its name: a client sends the same one on every request of its connection. */
let lastHost: { readonly host: string; readonly name: string | undefined } = { host: '', name: undefined };

/** The Host header without its port (IPv6 literals keep their brackets). */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host === lastHost.host) return lastHost.name;
  const colon = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  const name = colon > 0 ? host.slice(0, colon) : colon === 0 ? '' : host;
  lastHost = { host, name: /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name.toLowerCase() : undefined };
  return lastHost.name;
}

/** The mailbox paths (Zimbra's `location ~* /(service|principals|dav|…)/`): never the login pool. */
const MAILBOX_PATHS = /^\/(?:service|principals|dav|\.well-known|home|octopus|shf|user|certauth|spnegoauth|zimbra\/home|zimbra\/user)(?:\/|$)/i;

/**
 * Whether a request that names no user belongs to the login pool (Zimbra's `$login_upstream`):
 * anything outside the mailbox paths from a client without a `ZM_AUTH_TOKEN` cookie, and the
 * logout and re-login pages always.
 */
export function wantsLoginPool(target: string, cookie: string | undefined): boolean {
  const [path = '/', query = ''] = target.split(/\?(.*)/s);
  if (MAILBOX_PATHS.test(path)) return false;
  if (/(?:^|&)loginOp=(?:logout|relogin)(?:&|$)/.test(query)) return true;
  return !/(?:^|;\s*)ZM_AUTH_TOKEN=/.test(cookie ?? '');
}
