/**
 * The platform's floor for an IMAP login proxy: what Node itself costs per login when a proxy does
 * nothing but the relay. Greeting → one `tag LOGIN user pass` line from the client → connect to
 * the user's upstream → its greeting → the same LOGIN line there → the upstream's reply to the
 * client → then bytes both ways with `pipe()`. No throttle policy, no limits, no logging, no metrics.
 *
 *   node --import tsx floor-proxy.main.ts --upstream 127.0.0.4:34567
 *
 * Options for the floors that bound Postern's targets:
 *   --routes JSON            user → host:port (users not in it go to --upstream)
 *   --memcached host:port    also the memcached round trips of a proxy with shared throttle
 *                            counters and a shared route cache (floor-shared-state.ts)
 *   --tls-cert F --tls-key K TLS on the client side (implicit, IMAPS), session tickets on
 *   --upstream-tls --upstream-ca F
 *                            TLS to the upstream, verified, each server's last session resumed
 *
 * bench:mail runs it beside Postern and nginx so that "what Postern adds per login" is measured in
 * the same run, not guessed. It is not a proxy anyone should deploy: it trusts the client's first
 * line.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { keepTickShapes } from '@postern/service-kit/tick-shapes';
import { FloorSharedState } from './floor-shared-state';
import { announceReady } from './ts-child';

// As every Postern process does: nextTick keeps V8's fast path however long the floor runs.
keepTickShapes();

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    routes: { type: 'string' },
    memcached: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'upstream-tls': { type: 'boolean', default: false },
    'upstream-ca': { type: 'string' },
  },
});
const routes = new Map<string, string>(Object.entries(JSON.parse(values.routes ?? '{}') as Record<string, string>));
if (!values.upstream && routes.size === 0) throw new Error('floor-proxy: --upstream host:port or --routes is required');
const upstreamOf = (user: string): [string, number] => {
  const [host, port] = (routes.get(user) ?? values.upstream ?? '').split(':');
  if (!host || !port) throw new Error(`floor-proxy: no upstream for ${user}`);
  return [host, Number(port)];
};

const GREETING = Buffer.from('* OK floor proxy ready\r\n');
const shared = values.memcached ? new FloorSharedState(values.memcached) : undefined;
const upstreamContext = values['upstream-tls'] ? createSecureContext(values['upstream-ca'] ? { ca: readFileSync(values['upstream-ca']) } : {}) : undefined;
/** The newest TLS session per upstream, for the next connection to resume. */
const sessions = new Map<string, Buffer>();

/** Calls `onLine` with the first CRLF-terminated line `socket` sends; anything after it stays unread in `rest`. */
function firstLine(socket: Socket, onLine: (line: Buffer, rest: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const end = pending.indexOf('\r\n');
    if (end < 0) return;
    socket.off('data', onData);
    socket.pause();
    onLine(pending.subarray(0, end + 2), pending.subarray(end + 2));
  };
  socket.on('data', onData);
}

/** The user of `tag LOGIN user pass` (an atom or a quoted string). */
function loginUser(line: Buffer): string {
  const user = line.toString('latin1').trim().split(' ')[2] ?? '';
  return user.startsWith('"') ? user.slice(1, -1) : user;
}

function connectUpstream(host: string, port: number): Socket {
  if (!upstreamContext) return netConnect({ host, port, noDelay: true });
  const key = `${host}:${port}`;
  const secure = tlsConnect({ socket: netConnect({ host, port, noDelay: true }), host, secureContext: upstreamContext });
  // Set as Postern sets it (upstream.ts): tls.connect's own `session` option decodes it twice.
  const session = sessions.get(key);
  if (session) (secure as TLSSocket & { setSession(session: Buffer): void }).setSession(session);
  secure.on('session', (next: Buffer) => sessions.set(key, next));
  return secure;
}

function relay(client: Socket): void {
  client.on('error', () => client.destroy());
  const clientIp = client.remoteAddress ?? '';
  const greet = () => client.write(GREETING);
  if (shared) void shared.connected(clientIp).then(greet);
  else greet();
  firstLine(client, (login) => {
    const user = loginUser(login);
    const [host, port] = upstreamOf(user);
    const open = () => {
      const upstream = connectUpstream(host, port);
      upstream.on('error', () => {
        upstream.destroy();
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      firstLine(upstream, () => {
        upstream.resume();
        upstream.write(login);
        firstLine(upstream, (reply, rest) => {
          const answer = () => {
            client.write(reply);
            if (rest.length > 0) client.write(rest);
            upstream.resume();
            client.resume();
            upstream.pipe(client);
            client.pipe(upstream);
          };
          if (shared) void shared.loggedIn(user).then(answer);
          else answer();
        });
      });
    };
    if (shared) void shared.loginAsked(clientIp, user, `${host}:${port}`).then(open);
    else open();
  });
}

const server: Server =
  values['tls-cert'] && values['tls-key']
    ? createTlsServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, (socket) => {
        socket.setNoDelay(true);
        relay(socket);
      })
    : createServer({ noDelay: true }, relay);
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('floor-proxy: no address');
  announceReady(address.port);
});
