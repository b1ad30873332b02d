/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on Postern's listeners: a load balancer in
 * front tells, before anything else on the connection, who the client really is. Only peers in a
 * trusted list are asked for it (as Dovecot's `haproxy_trusted_networks`): a connection from one
 * of them must start with a header, within a deadline; anyone else is served as they are, and a
 * header of theirs is just bad input to the protocol behind.
 *
 * - v1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN…\r\n`, at most 107 bytes;
 * - v2: the 12-byte signature, version/command, family, length, addresses (TLVs are skipped).
 *   `LOCAL` (a health check of the balancer's own) and `UNKNOWN`/`UNSPEC` keep the peer's address.
 */
import type { Server, Socket } from 'node:net';

/** The client as the header tells it. */
export interface ProxiedPeer {
  readonly address: string;
  readonly port: number;
}

export type HeaderParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'header'; readonly length: number; readonly peer: ProxiedPeer | undefined };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
const PORT = /^(?:0|[1-9]\d{0,4})$/;

/** Reads a header at the start of `data` (what has arrived so far). */
export function parseProxyHeader(data: Buffer): HeaderParse {
  const probe = Math.min(data.length, V2_SIGNATURE.length);
  if (data.subarray(0, probe).equals(V2_SIGNATURE.subarray(0, probe))) return probe < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(data);
  const head = Math.min(data.length, V1_PREFIX.length);
  if (data.subarray(0, head).equals(V1_PREFIX.subarray(0, head))) return head < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(data);
  return { kind: 'invalid', reason: 'no PROXY header' };
}

function parseV1(data: Buffer): HeaderParse {
  const end = data.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) return data.length >= V1_MAX ? { kind: 'invalid', reason: 'v1 line too long' } : { kind: 'incomplete' };
  const fields = data.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { kind: 'header', length, peer: undefined };
  const [, family, source, destination, sourcePort, destinationPort] = fields;
  const address = family === 'TCP4' ? IPV4 : family === 'TCP6' ? IPV6 : undefined;
  if (
    fields.length !== 6 ||
    !address ||
    !address.test(source ?? '') ||
    !address.test(destination ?? '') ||
    !validPort(sourcePort) ||
    !validPort(destinationPort)
  )
    return { kind: 'invalid', reason: 'malformed v1 line' };
  return { kind: 'header', length, peer: { address: source!, port: Number(sourcePort) } };
}

function validPort(text: string | undefined): boolean {
  return text !== undefined && PORT.test(text) && Number(text) <= 65535;
}

function parseV2(data: Buffer): HeaderParse {
  if (data.length < 16) return { kind: 'incomplete' };
  const versionCommand = data[12]!;
  const family = data[13]!;
  const length = 16 + data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'v2 version is not 2' };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: 'v2 command unknown' };
  if (data.length < length) return length > 16 + 65535 ? { kind: 'invalid', reason: 'v2 too long' } : { kind: 'incomplete' };
  if (command === 0) return { kind: 'header', length, peer: undefined };
  if (family === 0x11 || family === 0x12) {
    if (length < 16 + 12) return { kind: 'invalid', reason: 'v2 IPv4 block short' };
    return { kind: 'header', length, peer: { address: [...data.subarray(16, 20)].join('.'), port: data.readUInt16BE(24) } };
  }
  if (family === 0x21 || family === 0x22) {
    if (length < 16 + 36) return { kind: 'invalid', reason: 'v2 IPv6 block short' };
    return { kind: 'header', length, peer: { address: ipv6Text(data.subarray(16, 32)), port: data.readUInt16BE(48) } };
  }
  // UNSPEC, or a family that is not TCP (UDP, unix): the connection's own peer stands.
  return { kind: 'header', length, peer: undefined };
}

/** An IPv6 address in its canonical short form (an IPv4-mapped one as dotted IPv4). */
function ipv6Text(bytes: Buffer): string {
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return [...bytes.subarray(12)].join('.');
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best[0]! < 0) return hex.join(':');
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0]! + best[1]!).join(':')}`;
}

/** Why a connection that owed a header was closed. */
export type HeaderRefusal = 'malformed' | 'timeout' | 'closed';

/** How long a load balancer has to send its PROXY header: it sends it at connect, so 5 s is generous. Both frontends use it. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

const peers = new WeakMap<Socket, ProxiedPeer>();

/**
 * Reads the header a trusted peer owes at the start of `socket`, then hands the socket on with
 * everything after the header still to be read: `handOff` gets it paused (a TLS server or a
 * session reads it from there; an HTTP server needs `socket.resume()` after its `connection`).
 * A header that is malformed, or not complete within `timeoutMs`, closes the socket and tells
 * `onRefused`.
 */
export function readProxyHeader(
  socket: Socket,
  timeoutMs: number,
  handOff: (socket: Socket) => void,
  onRefused: (why: HeaderRefusal, detail: string) => void,
): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => refuse('timeout', `no complete PROXY header within ${timeoutMs} ms`), timeoutMs);
  const finish = () => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
  };
  const refuse = (why: HeaderRefusal, detail: string) => {
    finish();
    onRefused(why, detail);
    socket.destroy();
  };
  const onClose = () => {
    finish();
    onRefused('closed', 'closed before its PROXY header');
  };
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const parsed = parseProxyHeader(seen);
    if (parsed.kind === 'incomplete') return;
    if (parsed.kind === 'invalid') return refuse('malformed', parsed.reason);
    finish();
    socket.pause();
    if (parsed.peer) peers.set(socket, parsed.peer);
    if (seen.length > parsed.length) socket.unshift(seen.subarray(parsed.length));
    handOff(socket);
  };
  socket.on('data', onData);
  socket.once('close', onClose);
}

/**
 * The client of `socket` as its PROXY header told, if it had one; for a TLS socket, its
 * transport's (Node keeps the wrapped socket as `_parent`).
 */
export function proxiedPeer(socket: Socket): ProxiedPeer | undefined {
  return peers.get(socket) ?? peers.get((socket as Socket & { _parent?: Socket })._parent as Socket);
}

/** What {@link requireProxyHeaders} needs to know. */
export interface ProxyHeaderPolicy {
  /** Whether a peer (its address as the socket has it) must send a header. */
  readonly trusted: (peerAddress: string) => boolean;
  /** How long a trusted peer has to send its whole header. */
  readonly timeoutMs: number;
  /** A connection that owed a header and was closed. */
  readonly onRefused: (why: HeaderRefusal, detail: string, peerAddress: string) => void;
  /** The server's own connection handler reads from a flowing socket (node:http): resume it after the hand-off. */
  readonly resume?: boolean;
}

/**
 * Puts the header check in front of `server`'s own connection handling: a connection from a
 * trusted peer reaches the server once its header is read (the server itself keeps listening,
 * so its timeouts and connection tracking stay as they are); everyone else at once.
 */
export function requireProxyHeaders(server: Server, policy: ProxyHeaderPolicy): void {
  const own = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const handOff = (socket: Socket) => {
    for (const listener of own) listener.call(server, socket);
    if (policy.resume) socket.resume();
  };
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!policy.trusted(peer)) return handOff(socket);
    readProxyHeader(socket, policy.timeoutMs, handOff, (why, detail) => policy.onRefused(why, detail, peer));
  });
}
