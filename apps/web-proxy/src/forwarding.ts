/**
 * The headers a request carries upstream and a response carries back (RFC 9110 §7.6.1):
 * hop-by-hop headers are dropped both ways (the fixed list and whatever `Connection` names), and
 * the client is described to the mailbox server with `X-Forwarded-For`, `X-Forwarded-Proto` and
 * `X-Forwarded-Port`.
 *
 * An inbound `X-Forwarded-*` is believed only from a trusted peer (a load balancer in front,
 * `zimbraMailTrustedIP` style): then the peer is appended to its chain. From anyone else it is
 * replaced, not appended to: Zimbra's proxy appends, so a client's made-up prefix reaches the
 * mailbox server, which takes the whole header as the client's address.
 */

/** Hop-by-hop headers (lower case) never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port']);

/** A Connection value that names only `keep-alive` or `close` (dropped anyway). */
const ONLY_HOP = /^\s*(?:keep-alive|close)\s*$/i;

/**
 * Request headers the proxy answers itself and does not pass on: `Expect: 100-continue` is met
 * by the proxy (Node sends the `100 Continue` as it starts reading the body, as nginx does), so
 * the mailbox server gets the body without an expectation it could not honour back to the client.
 */
const ANSWERED_HERE = new Set(['expect']);

export interface ClientSide {
  /** The peer's address (the client, or a proxy in front of us). */
  readonly peerIp: string;
  /** How the client reached this proxy. */
  readonly proto: 'http' | 'https';
  /** The port the client connected to on this proxy. */
  readonly localPort: number;
  /** True when the peer may tell us who the client is (its X-Forwarded-* are believed). */
  readonly peerTrusted: boolean;
}

export type HeaderList = [name: string, value: string][];

/**
 * The request headers for the upstream, from Node's `rawHeaders` (names as sent, repeated
 * headers kept apart and in order). An HTTP/2 request's pseudo-headers become what HTTP/1.1 says
 * instead: `:authority` the `Host` (when the client sent none), and its cookies, which HTTP/2 may
 * split, one `Cookie` header (RFC 9113 §8.2.3).
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], client: ClientSide): HeaderList {
  // One pass; what Connection names (rare beyond its hop-by-hop tokens) is taken out after it.
  let named: Set<string> | undefined;
  let out: HeaderList = [];
  let inbound: Record<string, string[]> | undefined;
  let authority: string | undefined;
  let hasHost = false;
  let cookies: string[] | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ':' */) {
      if (lower === ':authority') authority = rawHeaders[i + 1];
      continue;
    }
    if (HOP_BY_HOP.has(lower) || ANSWERED_HERE.has(lower)) {
      if (lower === 'connection') addTokens((named ??= new Set<string>()), rawHeaders[i + 1]!);
      continue;
    }
    if (FORWARDED.has(lower)) {
      ((inbound ??= {})[lower] ??= []).push(rawHeaders[i + 1]!);
      continue;
    }
    if (authority !== undefined && lower === 'cookie') {
      (cookies ??= []).push(rawHeaders[i + 1]!);
      continue;
    }
    if (lower === 'host') hasHost = true;
    out.push([name, rawHeaders[i + 1]!]);
  }
  if (named !== undefined) {
    for (const hop of HOP_BY_HOP) named.delete(hop);
    if (named.size > 0) {
      const dropped = named;
      out = out.filter(([name]) => !dropped.has(name.toLowerCase()));
      // A cookie header named in Connection goes too, whichever way it came.
      if (dropped.has('cookie')) cookies = undefined;
    }
  }
  if (authority !== undefined && !hasHost) out.unshift(['Host', authority]);
  if (cookies) out.push(['Cookie', cookies.join('; ')]);
  const believed = (name: string) => (client.peerTrusted ? inbound?.[name]?.join(', ') : undefined);
  const chain = believed('x-forwarded-for');
  out.push(['X-Forwarded-For', chain ? `${chain}, ${client.peerIp}` : client.peerIp]);
  out.push(['X-Forwarded-Proto', believed('x-forwarded-proto') ?? client.proto]);
  out.push(['X-Forwarded-Port', believed('x-forwarded-port') ?? String(client.localPort)]);
  return out;
}

/** A header list as undici takes it, name and value after each other (a loop: Array.prototype.flat is slow). */
export function flatHeaders(list: HeaderList): string[] {
  const flat = new Array<string>(list.length * 2);
  for (let i = 0; i < list.length; i++) {
    flat[2 * i] = list[i]![0];
    flat[2 * i + 1] = list[i]![1];
  }
  return flat;
}

/**
 * The client as the access log names it: the last address of a trusted peer's X-Forwarded-For
 * (nginx's real_ip_header with set_real_ip_from), else the peer itself.
 */
export function believedClient(peerIp: string, peerTrusted: boolean, forwardedFor: string | string[] | undefined): string {
  if (!peerTrusted || forwardedFor === undefined) return peerIp;
  const chain = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const last = chain.slice(chain.lastIndexOf(',') + 1).trim();
  return last === '' ? peerIp : last;
}

/** The response headers for the client, from the upstream's (hop-by-hop dropped), then `added` (`zimbraReverseProxyResponseHeaders`). */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  added: Readonly<Record<string, string>> = {},
): Record<string, string | string[]> {
  const connection = headers['connection'];
  let named: Set<string> | undefined;
  // Most answers say `Connection: keep-alive` (or close): a hop-by-hop name alone, nothing to gather.
  if (connection !== undefined && !ONLY_HOP.test(String(connection))) {
    named = new Set<string>();
    for (const value of Array.isArray(connection) ? connection : [connection]) addTokens(named, value);
  }
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    out[name] = value;
  }
  for (const name in added) out[name] = added[name]!;
  return out;
}

function addTokens(into: Set<string>, value: string): void {
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    // The forwarded headers are ours to set: a client cannot have them dropped by naming them.
    if (name !== '' && !FORWARDED.has(name) && name !== 'host') into.add(name);
  }
}
