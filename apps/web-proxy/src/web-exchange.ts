/**
 * One web request (or upgrade) from its arrival to its end: what every step after the listener
 * needs, in one object, so the gate, the carrier and the replies take it instead of a list of
 * positional parameters. Built once per request by {@link newExchange}.
 */
import type { EffectiveSettings } from '@postern/config';
import { unmapIpv4 } from '@postern/ip-address';
import { proxiedPeer } from '@postern/proxy-protocol';
import { shortId } from '@postern/service-kit';
import { believedClient } from './forwarding';
import type { Scheme } from './mail-mode';
import type { RequestRoute } from './request-route';
import type { WebRequest, WebResponse } from './web-listeners';
import { hostName } from './web-rules';

/** The route kind a request was sent by, as metrics and the access log label it. */
export type RouteKind = RequestRoute['rule'] | 'pool' | 'login-pool' | 'mail-mode' | 'unknown-host';

export interface Exchange {
  readonly rid: string;
  /** performance.now() at arrival. */
  readonly started: number;
  readonly scheme: Scheme;
  readonly protocol: 'h1' | 'h2' | 'ws';
  readonly request: WebRequest;
  /** The peer: the client, or the load balancer that sent a PROXY header naming it (then the client). */
  readonly peerIp: string;
  /** Whether the peer's X-Forwarded-* are believed (`posternWebTrustedProxies`). */
  readonly peerTrusted: boolean;
  /** The client as the access log names it: a trusted peer's last X-Forwarded-For address, else the peer. */
  readonly client: string;
  /** The Host (or `:authority`) name, when usable. */
  readonly host: string | undefined;
  readonly method: string;
  readonly target: string;
  /** The settings this request is served under, read once at its arrival. */
  readonly settings: EffectiveSettings;
  route: RouteKind;
  /** `host:port` of the mailbox server, or `none`. */
  upstream: string;
  bytesIn: number;
  bytesOut: number;
}

/** A request answered on a response (HTTP/1.1 or HTTP/2), not an upgrade. */
export interface HttpExchange extends Exchange {
  readonly response: WebResponse;
}

/** The peer's address: the PROXY header's client when a load balancer sent one, else the socket's. */
export function peerOf(request: WebRequest): string {
  return unmapIpv4(proxiedPeer(request.socket)?.address ?? request.socket.remoteAddress ?? '0.0.0.0');
}

/** The peer as the flow judges it: its address and whether its X-Forwarded-* are believed. */
export interface Peer {
  readonly ip: string;
  readonly trusted: boolean;
}

/** A request as the flow carries it, with the settings of its arrival; an upgrade has no response. */
export function newExchange(request: WebRequest, response: WebResponse, scheme: Scheme, settings: EffectiveSettings, peer: Peer): HttpExchange;
export function newExchange(request: WebRequest, response: undefined, scheme: Scheme, settings: EffectiveSettings, peer: Peer): Exchange;
export function newExchange(
  request: WebRequest,
  response: WebResponse | undefined,
  scheme: Scheme,
  settings: EffectiveSettings,
  peer: Peer,
): Exchange & { readonly response: WebResponse | undefined } {
  const headers = request.headers;
  return {
    rid: shortId(),
    started: performance.now(),
    scheme,
    protocol: response === undefined ? 'ws' : request.httpVersionMajor === 2 ? 'h2' : 'h1',
    request,
    response,
    peerIp: peer.ip,
    peerTrusted: peer.trusted,
    client: believedClient(peer.ip, peer.trusted, headers['x-forwarded-for']),
    host: hostName(headers.host ?? headers[':authority']?.toString()),
    method: request.method ?? 'GET',
    target: request.url ?? '/',
    settings,
    route: 'pool',
    upstream: 'none',
    bytesIn: 0,
    bytesOut: 0,
  };
}
