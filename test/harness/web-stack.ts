/**
 * The web proxy in Zimbra's default configuration, with everything it talks to really running:
 * NATS, memcached, slapd with the directory fixture, route-lookup, and HTTPS stand-ins for the
 * mailbox servers' web ports, each with a certificate of its own (TLS to the mailbox servers is
 * on and verified, as `zimbraReverseProxySSLToUpstreamEnabled` defaults).
 *
 *   mbox1 = 127.0.0.2, its certificate names 127.0.0.2 (alice's server);
 *   mbox2 = 127.0.0.3, its certificate names another host (bob's server: every TLS check fails);
 *   pool  = listed as `localhost:<port>`, its certificate names localhost (the SNI it must get).
 *
 * Both certificates' CAs are trusted (POSTERN_UPSTREAM_CA_FILE), so mbox2 fails on its name alone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMemcached } from './memcached';
import { startNats } from './nats';
import { freePort, removeDir, scratchDir } from './process';
import { startService, type ServiceProcess } from './services';
import { directoryEnv, startSlapd, type SlapdServer } from './slapd';
import { makeCertificate, type TestCertificate } from './tls';
import { directoryWithWebPorts, startWebStandIn, type WebStandIn } from './web';

export interface WebProxyRun {
  readonly proxy: ServiceProcess;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly configFile: string;
}

export interface WebStack {
  readonly mbox1: WebStandIn;
  readonly mbox2: WebStandIn;
  readonly pool: WebStandIn;
  /** `localhost:<port>`: the pool as the proxy's settings name it. */
  readonly poolMember: string;
  /** The certificate of mbox1 and the pool (names 127.0.0.2 and localhost), signed by a CA the proxy trusts. */
  readonly upstreamCert: TestCertificate;
  /** The certificate of mail.example.com (the example.com domain's, from the directory). */
  readonly mailCert: TestCertificate;
  /** The proxy's default certificate. */
  readonly defaultCert: TestCertificate;
  readonly slapd: SlapdServer;
  /** NATS and memcached, as a service's environment names them. */
  readonly common: Record<string, string>;
  /**
   * Starts a web proxy on this stack: free ports, mail mode `both`, the pool above, the default
   * certificate, the directory and the upstream CA; `attributes` and `env` add to or replace those.
   */
  startProxy(attributes?: Record<string, unknown>, env?: Record<string, string>): Promise<WebProxyRun>;
  stop(): Promise<void>;
}

export async function startWebStack(): Promise<WebStack> {
  const dir = await scratchDir('web-stack');
  const [upstreamCert, wrongCert, mailCert, defaultCert] = await Promise.all([
    makeCertificate({ commonName: 'mbox1', altNames: ['127.0.0.2', 'localhost'] }),
    makeCertificate({ commonName: 'elsewhere.example', altNames: ['elsewhere.example'] }),
    makeCertificate({ commonName: 'mail.example.com', altNames: ['mail.example.com', 'webmail.example.com'] }),
    makeCertificate({ commonName: 'default.postern.test' }),
  ]);
  const caFile = join(dir, 'upstream-ca.pem');
  writeFileSync(caFile, `${upstreamCert.caPem}${wrongCert.caPem}`);
  const [mbox1, mbox2, pool] = await Promise.all([
    startWebStandIn('mbox1', '127.0.0.2', { tls: upstreamCert }),
    startWebStandIn('mbox2', '127.0.0.3', { tls: wrongCert }),
    startWebStandIn('pool', '127.0.0.1', { tls: upstreamCert }),
  ]);
  const [nats, memcached, slapd] = await Promise.all([
    startNats(),
    startMemcached(),
    startSlapd({ fixture: directoryWithWebPorts({ mbox1: mbox1.port, mbox2: mbox2.port }, { exampleCertificate: mailCert, attribute: 'zimbraMailSSLPort' }) }),
  ]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  await startService('route-lookup', { ...common, ...directoryEnv(slapd) });
  const poolMember = `localhost:${pool.port}`;
  let proxies = 0;
  return {
    mbox1,
    mbox2,
    pool,
    poolMember,
    upstreamCert,
    mailCert,
    defaultCert,
    slapd,
    common,
    async startProxy(attributes = {}, env = {}) {
      const [httpPort, httpsPort] = await Promise.all([freePort(), freePort()]);
      const configFile = join(dir, `web-proxy-${++proxies}.json`);
      writeFileSync(
        configFile,
        JSON.stringify({
          attributes: {
            zimbraMailProxyPort: httpPort,
            zimbraMailSSLProxyPort: httpsPort,
            zimbraReverseProxyMailMode: 'both',
            posternWebUpstreamPool: [poolMember],
            posternRouteLookupRequestTimeout: '60s',
            ...attributes,
          },
        }),
      );
      const proxy = await startService('web-proxy', {
        ...common,
        ...directoryEnv(slapd),
        POSTERN_TLS_CERT_FILE: defaultCert.certFile,
        POSTERN_TLS_KEY_FILE: defaultCert.keyFile,
        POSTERN_UPSTREAM_CA_FILE: caFile,
        POSTERN_CONFIG_FILE: configFile,
        POSTERN_BIND_HOST: '127.0.0.1',
        POSTERN_SERVER_NAME: 'proxy1.postern.test',
        ...env,
      });
      return { proxy, httpPort, httpsPort, configFile };
    },
    async stop() {
      await Promise.all([mbox1.stop(), mbox2.stop(), pool.stop()]);
      await Promise.all([upstreamCert, wrongCert, mailCert, defaultCert].map((c) => c.remove()));
      await removeDir(dir);
    },
  };
}

/** An access line as the web proxy writes it. */
export interface AccessLine {
  readonly msg: 'access';
  readonly rid: string;
  readonly client: string;
  readonly vhost?: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly upstream: string;
  readonly route: string;
  readonly protocol: 'h1' | 'h2' | 'ws';
  readonly ms: number;
}

/** The access lines in a process's output so far. */
export function accessLines(output: string): AccessLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"msg":"access"'))
    .map((line) => JSON.parse(line) as AccessLine);
}

/** The JSON log lines of a process's output so far (access lines included). */
export function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
