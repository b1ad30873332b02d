import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseProxyHeader, proxiedPeer, readProxyHeader } from './proxy-protocol';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([SIGNATURE, head, addresses, tlvs]);
}

function ipv4Block(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(source), Buffer.from(destination), ports]);
}

describe('parseProxyHeader', () => {
  it('reads v1 for TCP4, TCP6 and UNKNOWN', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.7 10.0.0.1 51234 143\r\na001 LOGIN'))).toEqual({
      kind: 'header',
      length: 41,
      peer: { address: '192.0.2.7', port: 51234 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4000 993\r\n'))).toMatchObject({ peer: { address: '2001:db8::7', port: 4000 } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ff ff\r\n'))).toEqual({ kind: 'header', length: 21, peer: undefined });
  });

  it('waits for more of a header that has begun, and refuses anything else', () => {
    for (const part of ['P', 'PROXY', 'PROXY TCP4 192.0.2.7']) expect(parseProxyHeader(Buffer.from(part)).kind).toBe('incomplete');
    expect(parseProxyHeader(SIGNATURE.subarray(0, 5)).kind).toBe('incomplete');
    for (const bad of [
      'a001 LOGIN alice secret\r\n',
      'PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n',
      'PROXY TCP4 192.0.2.7 10.0.0.1 70000 2\r\n',
      'PROXY TCP4 192.0.2.7 10.0.0.1 1\r\n',
      'PROXY TCP5 192.0.2.7 10.0.0.1 1 2\r\n',
      'PROXY TCP4 192.0.2.7 10.0.0.1 01 2\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}`,
    ])
      expect(parseProxyHeader(Buffer.from(bad)).kind, bad).toBe('invalid');
  });

  it('reads v2 for IPv4 and IPv6, skipping TLVs, and LOCAL without a peer', () => {
    const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]);
    const four = v2(1, 0x11, ipv4Block([198, 51, 100, 9], [10, 0, 0, 1], 40000, 443), tlv);
    expect(parseProxyHeader(Buffer.concat([four, Buffer.from('GET /')]))).toEqual({
      kind: 'header',
      length: four.length,
      peer: { address: '198.51.100.9', port: 40000 },
    });
    const six = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(six, 0);
    six.writeUInt16BE(5555, 32);
    expect(parseProxyHeader(v2(1, 0x21, six))).toMatchObject({ peer: { address: '2001:db8::7', port: 5555 } });
    const mapped = Buffer.alloc(36);
    Buffer.from('00000000000000000000ffffc0000207', 'hex').copy(mapped, 0);
    expect(parseProxyHeader(v2(1, 0x21, mapped))).toMatchObject({ peer: { address: '192.0.2.7' } });
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ kind: 'header', length: 16, peer: undefined });
    expect(parseProxyHeader(four.subarray(0, four.length - 1)).kind).toBe('incomplete');
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(4))).kind).toBe('invalid');
    const badVersion = Buffer.from(four);
    badVersion[12] = 0x11;
    expect(parseProxyHeader(badVersion).kind).toBe('invalid');
  });
});

/** A loopback server that reads a header from each connection and reports what it got. */
async function withServer(timeoutMs: number, client: (port: number) => Socket): Promise<{ peer?: unknown; rest?: string; refused?: string }> {
  return new Promise((resolve) => {
    const server = createServer((socket) =>
      readProxyHeader(
        socket,
        timeoutMs,
        (ready) => {
          let rest = '';
          ready.on('data', (chunk: Buffer) => (rest += chunk.toString('latin1')));
          ready.on('end', () => {
            resolve({ peer: proxiedPeer(ready), rest });
            server.close();
          });
          ready.resume();
        },
        (why) => {
          resolve({ refused: why });
          server.close();
        },
      ),
    );
    server.listen(0, '127.0.0.1', () => client((server.address() as AddressInfo).port));
  });
}

describe('readProxyHeader', () => {
  it('hands the socket on with the bytes after the header, however they were cut', async () => {
    const text = 'PROXY TCP4 192.0.2.7 10.0.0.1 51234 143\r\na001 LOGIN alice x\r\n';
    for (const cut of [1, 6, 20, 41, 45]) {
      const got = await withServer(5000, (port) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(text.slice(0, cut));
          setImmediate(() => socket.end(text.slice(cut)));
        });
        return socket;
      });
      expect(got, `cut at ${cut}`).toEqual({ peer: { address: '192.0.2.7', port: 51234 }, rest: 'a001 LOGIN alice x\r\n' });
    }
  });

  it('closes a connection whose header is malformed, or never completes', async () => {
    expect(await withServer(5000, (port) => connect(port, '127.0.0.1').end('GET / HTTP/1.1\r\n\r\n'))).toEqual({ refused: 'malformed' });
    const silent = await withServer(50, (port) =>
      connect(port, '127.0.0.1')
        .setNoDelay(true)
        .on('error', () => undefined)
        .on('connect', function (this: Socket) {
          this.write('PROXY TCP4');
        }),
    );
    expect(silent).toEqual({ refused: 'timeout' });
  });
});
