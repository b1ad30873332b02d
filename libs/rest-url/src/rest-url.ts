/**
 * The public URL of an account's REST resources (`/home/<account>/…`), as Zimbra builds it:
 *
 * - when the account's domain (or, inherited, the global config) has `zimbraPublicServiceHostname`:
 *   `zimbraPublicServiceProtocol` (default `http`) :// that host, and `zimbraPublicServicePort` unless
 *   it is the protocol's default (80, 443): the name users know, in front of the proxy;
 * - otherwise the account's home server: https when its `zimbraMailMode` is `https`, or is not
 *   `http` and SSL is preferred; then `zimbraMailSSLPort` (443 when unset), else `zimbraMailPort`
 *   (80 when unset); the host is its `zimbraServiceHostname`; the port is always written. A server
 *   without `zimbraMailMode` gives no protocol to choose: an error that says so.
 *
 * And `zimbraMailReferMode`: whether a login on one server sends the user on to their home
 * server's URL (`always`; `wronghost`: only when it is another server) or never
 * (`reverse-proxied`, the default behind Postern: the proxy routes).
 */

export interface PublicService {
  readonly hostname?: string | undefined;
  readonly protocol?: string | undefined;
  readonly port?: number | undefined;
}

export interface HomeServer {
  readonly serviceHostname?: string | undefined;
  readonly mailMode?: string | undefined;
  readonly mailPort?: number | undefined;
  readonly mailSslPort?: number | undefined;
}

export interface RestUrlInput {
  /** The account's name (`alice@example.com`). */
  readonly account: string;
  /** The domain's public service attributes (with the global config's where the domain has none). */
  readonly publicService: PublicService;
  readonly homeServer?: HomeServer | undefined;
  /** Prefer https when the home server offers both (the web client's setting). Default true. */
  readonly preferSsl?: boolean;
}

/** The input names no usable place (a server without zimbraMailMode, or no server at all). */
export class RestUrlError extends Error {
  override readonly name = 'RestUrlError';
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

/** `<protocol>://<host>[:<port>]`, without a trailing slash. */
export function restBaseUrl(input: Omit<RestUrlInput, 'account'>): string {
  const { hostname, protocol, port } = input.publicService;
  if (hostname) {
    const scheme = (protocol || 'http').toLowerCase();
    const effective = port ?? DEFAULT_PORTS[scheme];
    return `${scheme}://${hostname}${effective === undefined || effective === DEFAULT_PORTS[scheme] ? '' : `:${effective}`}`;
  }
  const server = input.homeServer;
  if (!server?.serviceHostname) throw new RestUrlError('the account has no home server (zimbraMailHost names no server entry)');
  const mode = server.mailMode?.toLowerCase();
  if (!mode)
    throw new RestUrlError(
      `server ${server.serviceHostname} has no zimbraMailMode (nor has the global config), so its REST URL has no protocol: set zimbraMailMode (http, https, both, mixed or redirect), or zimbraPublicServiceHostname on the domain`,
    );
  const https = mode === 'https' || (mode !== 'http' && (input.preferSsl ?? true));
  return https ? `https://${server.serviceHostname}:${server.mailSslPort ?? 443}` : `http://${server.serviceHostname}:${server.mailPort ?? 80}`;
}

/** The REST URL of `path` (e.g. `/Inbox?fmt=rss`) in the account's home folder. */
export function restUrl(input: RestUrlInput, path = ''): string {
  const suffix = path === '' || path.startsWith('/') || path.startsWith('?') ? path : `/${path}`;
  return `${restBaseUrl(input)}/home/${encodeURIComponent(input.account).replace(/%40/g, '@')}${suffix}`;
}

export type MailReferMode = 'always' | 'wronghost' | 'reverse-proxied';

/** Whether a login on `thisServer` sends the user on to `homeServer` (by `zimbraServiceHostname`). */
export function sendsRefer(mode: MailReferMode, homeServer: string, thisServer: string): boolean {
  if (mode === 'always') return true;
  if (mode === 'wronghost') return homeServer.toLowerCase() !== thisServer.toLowerCase();
  return false;
}
