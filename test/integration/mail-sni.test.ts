/**
 * IMAPS, POP3S and STARTTLS pick the certificate by the client's SNI name: the domain whose
 * zimbraVirtualHostname it is (its zimbraSSLCertificate from the directory), the default for any
 * other name, something Zimbra's proxy needed an address per domain for. Real slapd, NATS and
 * memcached; the TLS client is Node's.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryEnv,
  directoryWithWebPorts,
  makeCertificate,
  removeDir,
  scratchDir,
  startMailProxy,
  startMemcached,
  startNats,
  startSlapd,
  stopAll,
  type MailProxyProcess,
} from '../harness';

let dir: string;
let proxy: MailProxyProcess;

beforeAll(async () => {
  dir = await scratchDir('mail-sni');
  const [defaultCert, domainCert] = await Promise.all([
    makeCertificate({ commonName: 'default.postern.test' }),
    makeCertificate({ commonName: 'mail.example.com', altNames: ['mail.example.com', 'webmail.example.com'] }),
  ]);
  const [nats, memcached, slapd] = await Promise.all([
    startNats(),
    startMemcached(),
    startSlapd({ fixture: directoryWithWebPorts({}, { exampleCertificate: domainCert }) }),
  ]);
  proxy = await startMailProxy(
    dir,
    'mail-sni',
    {
      POSTERN_NATS_URLS: nats.url,
      POSTERN_MEMCACHED_SERVERS: memcached.address,
      POSTERN_TLS_CERT_FILE: defaultCert.certFile,
      POSTERN_TLS_KEY_FILE: defaultCert.keyFile,
      ...directoryEnv(slapd),
    },
    { zimbraReverseProxyImapStartTlsMode: 'on', zimbraReverseProxyMailMode: 'both' },
  );
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (dir) await removeDir(dir);
});

/** The subject CN the server presents over `tls`, then the socket is closed. */
function subjectOf(tls: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    tls.once('secureConnect', () => {
      const cn = tls.getPeerCertificate().subject?.CN;
      tls.destroy();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    tls.once('error', reject);
  });
}

const implicit = (port: number, servername?: string) =>
  subjectOf(tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }));

/** Reads lines from `socket` until one starts with `prefix`. */
function lineStarting(socket: Socket, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.split('\r\n').some((line) => line.startsWith(prefix))) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('a certificate per virtual host for mail', () => {
  it('IMAPS and POP3S: the SNI name picks the domain certificate, others get the default', async () => {
    expect(await implicit(proxy.imaps, 'mail.example.com')).toBe('mail.example.com');
    expect(await implicit(proxy.imaps, 'webmail.example.com')).toBe('mail.example.com');
    expect(await implicit(proxy.imaps, 'other.example.net')).toBe('default.postern.test');
    expect(await implicit(proxy.imaps)).toBe('default.postern.test');
    expect(await implicit(proxy.pop3s, 'mail.example.com')).toBe('mail.example.com');
  });

  it('STARTTLS: the same choice after the upgrade', async () => {
    const plain = tcpConnect(proxy.imap, '127.0.0.1');
    await lineStarting(plain, '* OK');
    plain.write('a STARTTLS\r\n');
    await lineStarting(plain, 'a OK');
    expect(await subjectOf(tlsConnect({ socket: plain, servername: 'mail.example.com', rejectUnauthorized: false }))).toBe('mail.example.com');
  });
});
