import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { ClientLink } from './client-link';

/** A socket whose local address is read through a spy (on a real one, each read is a getsockname). */
function socketAt(local: string) {
  const localAddress = vi.fn(() => local);
  const socket = Object.assign(new EventEmitter(), { remoteAddress: '::ffff:192.0.2.9', remotePort: 50_000 });
  Object.defineProperty(socket, 'localAddress', { get: localAddress });
  return { socket: socket as unknown as Socket, localAddress };
}

const events = { data: () => undefined, end: () => undefined, gone: () => undefined };

describe('ClientLink addresses', () => {
  it('takes the reached address from the listener when it knows it, without asking the socket', () => {
    const { socket, localAddress } = socketAt('198.51.100.1');
    const link = new ClientLink({ socket, protocol: 'imap', implicitTls: false, id: 's1', localAddress: '198.51.100.1' }, events);
    expect(link.proxyIp).toBe('198.51.100.1');
    expect(localAddress).not.toHaveBeenCalled();
    expect([link.clientIp, link.clientPort]).toEqual(['192.0.2.9', 50_000]);
  });

  it('asks the socket otherwise (a listener on every address), as an IPv4 address', () => {
    const { socket, localAddress } = socketAt('::ffff:198.51.100.2');
    const link = new ClientLink({ socket, protocol: 'imap', implicitTls: false, id: 's2' }, events);
    expect(link.proxyIp).toBe('198.51.100.2');
    expect(localAddress).toHaveBeenCalledTimes(1);
  });
});
