/**
 * The splice's idle timer under fake time (the sockets are real, on loopback): activity in either
 * direction keeps a session open, so IMAP IDLE, where only the server speaks, survives the
 * post-auth idle timeout; a session where nothing moves ends at it; a session that has ended
 * leaves no timer behind.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { splice } from './splice';

const servers: Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A connected pair of sockets: [the side a test drives, the side the proxy holds]. */
async function pair(): Promise<[Socket, Socket]> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const outside = await new Promise<Socket>((resolve) => {
    const socket = connect((server.address() as { port: number }).port, '127.0.0.1', () => resolve(socket));
  });
  return [outside, await accepted];
}

const arrival = (socket: Socket) => new Promise<string>((resolve) => socket.once('data', (data: Buffer) => resolve(data.toString('latin1'))));

describe('splice', () => {
  it('keeps a session whose server alone speaks (IMAP IDLE) and ends one where nothing moves', async () => {
    const [client, clientSide] = await pair();
    const [mailbox, upstreamSide] = await pair();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const session = splice(clientSide, upstreamSide, { idleMs: 1000, halfClosedIdleMs: 1000 });
    let ended = false;
    void session.done.then(() => (ended = true));

    // Five keep-alives 600 ms apart: three seconds in all, three times the idle timeout.
    for (let i = 0; i < 5; i++) {
      const received = arrival(client);
      mailbox.write('* OK Still here\r\n');
      expect(await received).toBe('* OK Still here\r\n');
      vi.advanceTimersByTime(600);
      expect(ended).toBe(false);
    }
    // Then silence: the session ends at the timeout.
    vi.advanceTimersByTime(1000);
    const result = await session.done;
    expect(result.end).toBe('idle-timeout');
    expect(result.bytesFromUpstream).toBe(5 * '* OK Still here\r\n'.length);
    client.destroy();
    mailbox.destroy();
  });

  it('passes bytes both ways and ends when a side closes, delivering what was in flight', async () => {
    const [client, clientSide] = await pair();
    const [mailbox, upstreamSide] = await pair();
    const session = splice(clientSide, upstreamSide, { idleMs: 60_000, halfClosedIdleMs: 60_000 });
    const command = arrival(mailbox);
    client.write('a LOGOUT\r\n');
    expect(await command).toBe('a LOGOUT\r\n');
    let seen = '';
    client.on('data', (data: Buffer) => (seen += data.toString('latin1')));
    const closed = new Promise((resolve) => client.once('close', resolve));
    mailbox.end('* BYE Logging out\r\na OK LOGOUT completed\r\n');
    expect((await session.done).end).toBe('upstream-closed');
    await closed;
    expect(seen).toBe('* BYE Logging out\r\na OK LOGOUT completed\r\n');
  });

  it('leaves no timer holding a kicked session when the client sends its FIN after the end', async () => {
    const [client, clientSide] = await pair();
    const [mailbox, upstreamSide] = await pair();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const session = splice(clientSide, upstreamSide, { idleMs: 60_000, halfClosedIdleMs: 30_000 });
    const clientSideClosed = new Promise((resolve) => clientSide.once('close', resolve));
    const goodbye = arrival(client);
    // A kick ends the session at once; the client's FIN answers the goodbye afterwards.
    session.kick(Buffer.from('* BYE Account moved\r\n'));
    expect((await session.done).end).toBe('kicked');
    expect(await goodbye).toBe('* BYE Account moved\r\n');
    await clientSideClosed;
    // A timer armed by that late FIN would hold both sockets and the session for half a minute.
    expect(vi.getTimerCount()).toBe(0);
    mailbox.destroy();
  });
});
