/**
 * The single-node stack that `npm start` runs, as a function (scripts/stack.ts prints and
 * supervises it; bench:footprint measures it): nats-server (JetStream), memcached, two demo
 * Dovecot mailbox servers with a small HTTPS stand-in for each one's web port, and Postern's
 * single-node process (every service in one process tree) on the embedded LDIF directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCertificate } from './tls';
import { DEMO_ACCOUNTS, directoryLdifFor, startMailboxServers, type MailboxServers, type MailboxServersOptions } from './upstreams';
import { startMemcached } from './memcached';
import { startNats } from './nats';
import { canConnect, freePort } from './process';
import { startService, type ServiceProcess } from './services';
import { directoryWithWebPorts, startWebStandIn } from './web';

export interface StackOptions {
  /** Where the directory, certificates and config files are written. */
  readonly state: string;
  /** Preferred ports (taken when free, else any free port): nats, memcached, imap, imaps, pop3, pop3s, http, https. */
  readonly preferredPorts?: Partial<Record<StackPortName, number>>;
  /** POSTERN_WORKERS of the single-node process (default: auto, one per core). */
  readonly workers?: string;
  /** POSTERN_LOG_LEVEL of the single-node process (default info). */
  readonly logLevel?: string;
  /** NODE_OPTIONS of the single-node process (default: {@link SINGLE_NODE_OPTIONS}). */
  readonly nodeOptions?: string;
  /** More environment for the single-node process. */
  readonly env?: Readonly<Record<string, string>>;
  /** More for the demo mailbox servers (an oauth2 passdb, master users). */
  readonly mailboxOptions?: Pick<MailboxServersOptions, 'oauth2' | 'masterUsers'>;
  /** More attributes for the services' config file. */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Rewrites the directory (LDIF) before it is written, e.g. a realm on a domain. */
  readonly directory?: (ldif: string) => string;
}

/**
 * V8's young generation for the single-node process: semi-spaces of at most 2 MB instead of 16 MB
 * (Node 20's default on 64 bits). A young generation that has grown under load is never given
 * back; each process would keep up to 3 × 16 MB of it. Objects here are short-lived per session or
 * request, so the smaller nursery costs more frequent but shorter scavenges.
 */
export const SINGLE_NODE_OPTIONS = '--max-semi-space-size=2';

export type StackPortName = 'nats' | 'memcached' | 'imap' | 'imaps' | 'pop3' | 'pop3s' | 'http' | 'https';

export interface Stack {
  readonly nats: Awaited<ReturnType<typeof startNats>>;
  readonly memcached: Awaited<ReturnType<typeof startMemcached>>;
  readonly mailboxes: MailboxServers;
  readonly webPorts: Awaited<ReturnType<typeof startWebStandIn>>[];
  /** The single-node process: every Postern service. */
  readonly node: ServiceProcess;
  readonly ports: Record<'imap' | 'imaps' | 'pop3' | 'pop3s' | 'http' | 'https', number>;
  readonly ldif: string;
  /** The CA of Postern's own certificate (for clients). */
  readonly caFile: string;
  /** Stops Postern, then what it depends on. */
  stop(): Promise<void>;
}

async function portOr(preferred: number | undefined): Promise<number> {
  return preferred === undefined || (await canConnect('127.0.0.1', preferred)) ? freePort() : preferred;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const preferred = options.preferredPorts ?? {};
  const nats = await startNats({ jetstream: true, port: await portOr(preferred.nats) });
  const memcached = await startMemcached({ port: await portOr(preferred.memcached) });
  const { state } = options;
  mkdirSync(state, { recursive: true });

  // Two demo mailbox servers; the directory is the fixture with their real ports.
  const mailboxes = await startMailboxServers({ tls: true, messages: DEMO_ACCOUNTS.map((a) => ({ user: a.user, count: 1 })), ...options.mailboxOptions });
  // Their web ports speak HTTPS with the mailbox servers' certificate: TLS to the upstream is on, as Zimbra's default.
  const webPorts = await Promise.all([
    startWebStandIn('mbox1', mailboxes.mbox1.host, { tls: mailboxes.certificate }),
    startWebStandIn('mbox2', mailboxes.mbox2.host, { tls: mailboxes.certificate }),
  ]);
  // example.com's virtual hosts (mail.example.com, webmail.example.com) get a certificate of their own.
  const exampleCert = await makeCertificate({ commonName: 'mail.example.com', altNames: ['mail.example.com', 'webmail.example.com'] });
  const ldif = join(state, 'directory.ldif');
  const directory = directoryWithWebPorts(
    { mbox1: webPorts[0].port, mbox2: webPorts[1].port },
    { fixture: directoryLdifFor(mailboxes), exampleCertificate: exampleCert, attribute: 'zimbraMailSSLPort' },
  );
  writeFileSync(ldif, options.directory ? options.directory(directory) : directory);
  const upstreamCa = join(state, 'mailbox-ca.pem');
  writeFileSync(upstreamCa, mailboxes.caPem!);
  const cert = await makeCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const caFile = join(state, 'postern-ca.pem');
  writeFileSync(caFile, cert.caPem);

  const ports = {
    imap: await portOr(preferred.imap),
    imaps: await portOr(preferred.imaps),
    pop3: await portOr(preferred.pop3),
    pop3s: await portOr(preferred.pop3s),
    http: await portOr(preferred.http),
    https: await portOr(preferred.https),
  };
  // One config file for every service: each reads the attributes it knows.
  const config = join(state, 'postern.json');
  writeFileSync(
    config,
    JSON.stringify({
      attributes: {
        zimbraImapProxyBindPort: ports.imap,
        zimbraImapSSLProxyBindPort: ports.imaps,
        zimbraPop3ProxyBindPort: ports.pop3,
        zimbraPop3SSLProxyBindPort: ports.pop3s,
        // The demo answers failed logins after 2 s instead of Zimbra's 10 s.
        zimbraReverseProxyAuthWaitInterval: '2s',
        zimbraMailProxyPort: ports.http,
        zimbraMailSSLProxyPort: ports.https,
        zimbraReverseProxyMailMode: 'both',
        // The pool is the directory's lookup targets; mbox2 also serves the login page.
        zimbraReverseProxyUpstreamLoginServers: ['mbox2'],
        ...options.attributes,
      },
    }),
  );
  const node = await startService('single-node', {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    POSTERN_DIRECTORY_LDIF: ldif,
    POSTERN_SERVER_NAME: '127.0.0.1',
    POSTERN_CONFIG_FILE: config,
    POSTERN_BIND_HOST: '127.0.0.1',
    POSTERN_TLS_CERT_FILE: cert.certFile,
    POSTERN_TLS_KEY_FILE: cert.keyFile,
    POSTERN_UPSTREAM_CA_FILE: upstreamCa,
    POSTERN_WORKERS: options.workers ?? 'auto',
    POSTERN_LOG_LEVEL: options.logLevel ?? 'info',
    NODE_OPTIONS: options.nodeOptions ?? SINGLE_NODE_OPTIONS,
    ...options.env,
  });
  return {
    nats,
    memcached,
    mailboxes,
    webPorts,
    node,
    ports,
    ldif,
    caFile,
    async stop() {
      // Postern first (it drains over NATS), then what it depends on.
      await node.stop().catch(() => undefined);
      await Promise.all(webPorts.map((w) => w.stop()));
      await mailboxes.stop().catch(() => undefined);
      await Promise.all([nats.stop(), memcached.stop()].map((p) => p.catch(() => undefined)));
    },
  };
}
