/**
 * Who a web request is for, in Zimbra's order (its zmauth upstream module; first match wins):
 *
 * 1. REST: `/home/<user>/…`, `/home/~<user>/…`, `/service/home/<user>/…`, `/service/home/~<user>/…`
 *    (`~` alone falls through to the token);
 * 2. ActiveSync `/Microsoft-Server-ActiveSync` and 3. EWS `/ews/Exchange.asmx` (any case): the user
 *    of `Authorization: Basic` (`DOMAIN\user` → `user@DOMAIN`), else the `User=` query argument;
 * 4. CalDAV/CardDAV: `/dav/<user>/…`, `/principals/users/<user>/…`;
 * 5. the `ZM_AUTH_TOKEN` cookie or `zauthtoken=` argument: the account id inside the token;
 * 6. a JWT (`Authorization: Bearer`, or `zjwt=`): its `sub` claim, the account id.
 *
 * Otherwise the request has no user: it goes to the upstream pool. Pure: no I/O, nothing trusted
 * (a token's signature is the mailbox server's to check; the proxy only routes by it).
 */

/** The longest user name or id taken from a request (longer ones route nowhere). */
const MAX_NAME = 256;

export type RequestRoute =
  | { readonly by: 'name'; readonly user: string; readonly rule: 'rest' | 'activesync' | 'ews' | 'dav' }
  | { readonly by: 'id'; readonly user: string; readonly rule: 'token' | 'jwt' }
  | { readonly by: 'pool'; readonly rule: 'none' };

export interface RequestFacts {
  /** The request target as sent (origin form: path and query). */
  readonly target: string;
  /** The Cookie header(s), joined. */
  readonly cookie?: string | undefined;
  readonly authorization?: string | undefined;
}

const REST = /^\/(?:service\/)?home\/~?([^/]+)(?:\/|$)/;
const DAV = /^\/(?:dav|principals\/users)\/([^/]+)(?:\/|$)/;

export function requestRoute(request: RequestFacts): RequestRoute {
  const { path, query } = splitTarget(request.target);
  const decoded = safeDecode(path);

  const rest = decoded === undefined ? null : REST.exec(decoded);
  if (rest && rest[1] !== '~' && usable(rest[1]!)) return { by: 'name', user: rest[1]!, rule: 'rest' };

  const lower = path.toLowerCase();
  if (lower === '/microsoft-server-activesync' || lower.startsWith('/microsoft-server-activesync/') || lower.startsWith('/microsoft-server-activesync?')) {
    const user = basicUser(request.authorization) ?? queryArg(query, 'User');
    if (user !== undefined && usable(user)) return { by: 'name', user, rule: 'activesync' };
  }
  if (lower === '/ews/exchange.asmx' || lower.startsWith('/ews/exchange.asmx/')) {
    const user = basicUser(request.authorization) ?? queryArg(query, 'User');
    if (user !== undefined && usable(user)) return { by: 'name', user, rule: 'ews' };
  }

  const dav = decoded === undefined ? null : DAV.exec(decoded);
  if (dav && usable(dav[1]!)) return { by: 'name', user: dav[1]!, rule: 'dav' };

  const token = cookieValue(request.cookie, 'ZM_AUTH_TOKEN') ?? queryArg(query, 'zauthtoken');
  const tokenId = token === undefined ? undefined : authTokenAccountId(token);
  if (tokenId !== undefined) return { by: 'id', user: tokenId, rule: 'token' };

  const jwt = bearer(request.authorization) ?? queryArg(query, 'zjwt');
  const sub = jwt === undefined ? undefined : jwtSubject(jwt);
  if (sub !== undefined) return { by: 'id', user: sub, rule: 'jwt' };

  return { by: 'pool', rule: 'none' };
}

/**
 * The account id in a Zimbra auth token `<keyVersion>_<hmac>_<hex>`: the hex part decodes to
 * `field=len:value;…` (`id=36:<uuid>;exp=13:<ms>;…`).
 */
export function authTokenAccountId(token: string): string | undefined {
  const parts = token.split('_');
  if (parts.length !== 3 || !/^(?:[0-9a-fA-F]{2})+$/.test(parts[2]!)) return undefined;
  const data = Buffer.from(parts[2]!, 'hex').toString('latin1');
  let at = 0;
  while (at < data.length) {
    const eq = data.indexOf('=', at);
    const colon = data.indexOf(':', eq + 1);
    if (eq < 0 || colon < 0) return undefined;
    const name = data.slice(at, eq);
    const length = Number(data.slice(eq + 1, colon));
    if (!Number.isInteger(length) || length < 0) return undefined;
    const value = data.slice(colon + 1, colon + 1 + length);
    if (value.length !== length) return undefined;
    if (name === 'id') return usable(value) ? value : undefined;
    at = colon + 1 + length;
    if (data[at] === ';') at++;
  }
  return undefined;
}

/** The `sub` claim of a JWT (not verified: the mailbox server checks the signature). */
export function jwtSubject(jwt: string): string | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const sub = typeof claims === 'object' && claims !== null ? (claims as { sub?: unknown }).sub : undefined;
    return typeof sub === 'string' && usable(sub) ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** The user of `Authorization: Basic`, with `DOMAIN\user` read as `user@DOMAIN`. */
export function basicUser(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const backslash = user.indexOf('\\');
  const name = backslash < 0 ? user : `${user.slice(backslash + 1)}@${user.slice(0, backslash)}`;
  return name === '' ? undefined : name;
}

function bearer(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

function queryArg(query: string, name: string): string | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq) !== name) continue;
    return safeDecode(pair.slice(eq + 1).replace(/\+/g, ' '));
  }
  return undefined;
}

function cookieValue(cookie: string | undefined, name: string): string | undefined {
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** A name worth a lookup: not empty, not too long, no control characters or white space. */
function usable(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && !/[\s\x00-\x1f\x7f]/.test(name);
}
