/**
 * `zimbraReverseProxyMailMode` for the web (Zimbra's proxy templates):
 *
 * | mode | HTTP listener | HTTPS listener |
 * |---|---|---|
 * | `http` | proxies | none |
 * | `https` | none | proxies |
 * | `both` | proxies | proxies |
 * | `redirect` | 302 to the same URL over HTTPS | proxies |
 * | `mixed` | proxies a request with a `ZM_AUTH_TOKEN` cookie; the rest, and the login and password pages always, 302 to HTTPS with `zminitmode=http` | a request with the cookie and `zminitmode=http` 302s back to HTTP; the rest is proxied |
 */
export type MailMode = 'http' | 'https' | 'both' | 'redirect' | 'mixed';
export type Scheme = 'http' | 'https';

/** Whether a listener of `scheme` runs in `mode`. */
export function listens(mode: MailMode, scheme: Scheme): boolean {
  return scheme === 'http' ? mode !== 'https' : mode !== 'http';
}

export interface ModeRequest {
  readonly scheme: Scheme;
  /** The request target (path and query). */
  readonly target: string;
  /** The Host header's name (no port), when usable. */
  readonly host: string | undefined;
  readonly cookie: string | undefined;
}

export type ModeAction = { readonly kind: 'proxy' } | { readonly kind: 'redirect'; readonly location: string };

const PROXY: ModeAction = { kind: 'proxy' };

/** What the mode says of one request; `ports` are the proxy's own (omitted from a URL when standard). */
export function mailModeAction(mode: MailMode, request: ModeRequest, ports: { http: number; https: number }): ModeAction {
  if (request.host === undefined) return PROXY;
  const token = /(?:^|;\s*)ZM_AUTH_TOKEN=/.test(request.cookie ?? '');
  if (request.scheme === 'http') {
    if (mode === 'redirect') return redirect('https', request.host, ports.https, request.target);
    if (mode === 'mixed' && (!token || alwaysSecure(request.target)))
      return redirect('https', request.host, ports.https, withArg(request.target, 'zminitmode=http'));
    return PROXY;
  }
  if (mode === 'mixed' && token && /[?&]zminitmode=http(?:&|$)/.test(request.target) && !alwaysSecure(request.target)) {
    return redirect('http', request.host, ports.http, withoutArg(request.target, 'zminitmode=http'));
  }
  return PROXY;
}

/** The login (logout, re-login) and password pages: HTTPS in mixed mode whatever the cookie says. */
function alwaysSecure(target: string): boolean {
  return /^\/service\/changepass(?:[/?]|$)/i.test(target) || /[?&]loginOp=/.test(target);
}

function redirect(scheme: Scheme, host: string, port: number, target: string): ModeAction {
  const standard = scheme === 'https' ? 443 : 80;
  return { kind: 'redirect', location: `${scheme}://${host}${port === standard ? '' : `:${port}`}${target}` };
}

function withArg(target: string, arg: string): string {
  if (new RegExp(`[?&]${arg}(?:&|$)`).test(target)) return target;
  return `${target}${target.includes('?') ? '&' : '?'}${arg}`;
}

function withoutArg(target: string, arg: string): string {
  const [path = '', query] = target.split(/\?(.*)/s);
  const rest = (query ?? '').split('&').filter((pair) => pair !== '' && pair !== arg);
  return rest.length > 0 ? `${path}?${rest.join('&')}` : path;
}
