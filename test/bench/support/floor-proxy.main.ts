/**
 * The platform's floor for an IMAP login proxy: what Node itself costs per login when a proxy does
 * nothing but the relay. Greeting → one `tag LOGIN user pass` line from the client → connect to one
 * fixed upstream → its greeting → the same LOGIN line there → the upstream's reply to the client →
 * then bytes both ways with `pipe()`. No route, no throttle, no limits, no logging, no metrics.
 *
 *   node --import tsx floor-proxy.main.ts --upstream 127.0.0.4:34567
 *
 * bench:mail runs it beside Postern and nginx so that "what Postern adds per login" is measured in
 * the same run, not guessed. It is not a proxy anyone should deploy: it trusts the client's first
 * line and knows one upstream.
 */
import { connect, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { announceReady } from './ts-child';

const { values } = parseArgs({ options: { upstream: { type: 'string' } } });
const [upstreamHost, upstreamPort] = (values.upstream ?? '').split(':');
if (!upstreamHost || !upstreamPort) throw new Error('floor-proxy: --upstream host:port is required');

const GREETING = Buffer.from('* OK floor proxy ready\r\n');

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

const server = createServer({ noDelay: true }, (client) => {
  client.on('error', () => client.destroy());
  client.write(GREETING);
  firstLine(client, (login) => {
    const upstream = connect({ host: upstreamHost, port: Number(upstreamPort), noDelay: true });
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    firstLine(upstream, () => {
      upstream.resume();
      upstream.write(login);
      firstLine(upstream, (reply, rest) => {
        client.write(reply);
        if (rest.length > 0) client.write(rest);
        upstream.resume();
        client.resume();
        upstream.pipe(client);
        client.pipe(upstream);
      });
    });
  });
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('floor-proxy: no address');
  announceReady(address.port);
});
