import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deadline } from '@postern/service-kit';
import { TcpUpstreamConnector } from './upstream';

/** A self-signed certificate (EC P-256) for `altName`, made with openssl in a scratch directory. */
function selfSigned(dir: string, name: string, altName: string): { cert: string; key: string } {
  const [certFile, keyFile] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)];
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=${altName}`,
  ]);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** A TLS server on loopback that greets each connection, as a mailbox server does. */
async function greetingServer(identity: { cert: string; key: string }, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<{ server: Server; port: number }> {
  const server = createServer({ ...identity, maxVersion }, (socket) => socket.end('* OK ready\r\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects, reads the greeting (TLS 1.3 tickets come with it) and says whether the handshake resumed a session. */
async function connectOnce(connector: TcpUpstreamConnector, port: number): Promise<boolean> {
  const socket = (await connector.connect({ host: '127.0.0.1', port, tls: true }, new Deadline(5000))) as TLSSocket;
  await new Promise<void>((resolve) => {
    socket.resume();
    socket.once('end', resolve);
  });
  const resumed = socket.isSessionReused();
  socket.destroy();
  return resumed;
}

describe('TcpUpstreamConnector over TLS', () => {
  let dir: string;
  let right: { cert: string; key: string };
  let wrongName: { cert: string; key: string };
  const servers: Server[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'upstream-spec-'));
    right = selfSigned(dir, 'right', 'IP:127.0.0.1');
    wrongName = selfSigned(dir, 'wrong', 'DNS:elsewhere.test');
  });
  afterAll(() => {
    for (const server of servers) server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`resumes the last session of a server (${version}), the first handshake checked in full`, async () => {
      const { server, port } = await greetingServer(right, version);
      servers.push(server);
      const connector = new TcpUpstreamConnector({ verify: true, ca: right.cert });
      expect(await connectOnce(connector, port)).toBe(false);
      expect(await connectOnce(connector, port)).toBe(true);
      expect(await connectOnce(connector, port)).toBe(true);
    });

    it(`keeps no session of a server that failed the name check (${version}): each try fails again`, async () => {
      const { server, port } = await greetingServer(wrongName, version);
      servers.push(server);
      const connector = new TcpUpstreamConnector({ verify: true, ca: wrongName.cert });
      for (let i = 0; i < 2; i++) await expect(connectOnce(connector, port)).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
    });
  }
});
