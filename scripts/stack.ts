/**
 * The single-node stack: nats-server (JetStream), memcached, two demo Dovecot mailbox servers
 * (users on each), and Postern's services with the embedded LDIF directory, all on loopback.
 * Ctrl-C stops everything it started.
 *
 * Ports: the standard ones when free (NATS 4222, memcached 11211, IMAP 143, IMAPS 993, POP3 110,
 * POP3S 995; override with POSTERN_STACK_<NAME>_PORT), otherwise any free port. What is running,
 * and where, is written to .postern/stack.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canConnect,
  DEMO_ACCOUNTS,
  directoryLdifFor,
  freePort,
  makeCertificate,
  startMailboxServers,
  startMemcached,
  startNats,
  isolateFromTerminalSignals,
  startService,
  stopAll,
} from '../test/harness';

const root = join(__dirname, '..');

async function portOr(preferred: string | undefined, fallback: number): Promise<number> {
  const port = Number(preferred ?? fallback);
  return (await canConnect('127.0.0.1', port)) ? freePort() : port;
}

async function main(): Promise<void> {
  // Ctrl-C reaches this process only; stop() below stops the services before what they depend on.
  isolateFromTerminalSignals();
  const nats = await startNats({ jetstream: true, port: await portOr(process.env.POSTERN_STACK_NATS_PORT, 4222) });
  const memcached = await startMemcached({ port: await portOr(process.env.POSTERN_STACK_MEMCACHED_PORT, 11211) });
  const state = join(root, '.postern');
  mkdirSync(state, { recursive: true });

  // Two demo mailbox servers; the directory is the fixture with their real ports.
  const mailboxes = await startMailboxServers({ tls: true, messages: DEMO_ACCOUNTS.map((a) => ({ user: a.user, count: 1 })) });
  const ldif = join(state, 'directory.ldif');
  writeFileSync(ldif, directoryLdifFor(mailboxes));
  const upstreamCa = join(state, 'mailbox-ca.pem');
  writeFileSync(upstreamCa, mailboxes.caPem!);
  const cert = await makeCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const caFile = join(state, 'postern-ca.pem');
  writeFileSync(caFile, cert.caPem);

  const common = {
    POSTERN_NATS_URLS: nats.url,
    POSTERN_MEMCACHED_SERVERS: memcached.address,
    POSTERN_DIRECTORY_LDIF: ldif,
    POSTERN_SERVER_NAME: '127.0.0.1',
  };
  const [lookup, throttle] = await Promise.all([
    startService('route-lookup', common),
    startService('login-throttle', { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address }),
  ]);
  const ports = {
    imap: await portOr(process.env.POSTERN_STACK_IMAP_PORT, 143),
    imaps: await portOr(process.env.POSTERN_STACK_IMAPS_PORT, 993),
    pop3: await portOr(process.env.POSTERN_STACK_POP3_PORT, 110),
    pop3s: await portOr(process.env.POSTERN_STACK_POP3S_PORT, 995),
  };
  const mailConfig = join(state, 'mail-proxy.json');
  writeFileSync(
    mailConfig,
    JSON.stringify({
      attributes: {
        zimbraImapProxyBindPort: ports.imap,
        zimbraImapSSLProxyBindPort: ports.imaps,
        zimbraPop3ProxyBindPort: ports.pop3,
        zimbraPop3SSLProxyBindPort: ports.pop3s,
        // The demo answers failed logins after 2 s instead of Zimbra's 10 s.
        zimbraReverseProxyAuthWaitInterval: '2s',
      },
    }),
  );
  const mail = await startService('mail-proxy', {
    ...common,
    POSTERN_CONFIG_FILE: mailConfig,
    POSTERN_BIND_HOST: '127.0.0.1',
    POSTERN_TLS_CERT_FILE: cert.certFile,
    POSTERN_TLS_KEY_FILE: cert.keyFile,
    POSTERN_UPSTREAM_CA_FILE: upstreamCa,
  });
  const services = [lookup, throttle, mail];
  for (const service of services) service.process.child.stdout?.pipe(process.stdout);
  // A child's last lines can still be in its pipe when it has exited: wait for each pipe to close.
  const piped = services.map((service) => new Promise<void>((resolve) => service.process.child.stdout?.once('close', () => resolve()) ?? resolve()));

  writeFileSync(
    join(state, 'stack.json'),
    JSON.stringify(
      {
        nats: nats.url,
        memcached: memcached.address,
        directory: ldif,
        ports,
        services: {
          'route-lookup': { metrics: `http://127.0.0.1:${lookup.httpPort}/metrics` },
          'login-throttle': { metrics: `http://127.0.0.1:${throttle.httpPort}/metrics` },
          'mail-proxy': { metrics: `http://127.0.0.1:${mail.httpPort}/metrics` },
        },
      },
      null,
      2,
    ),
  );

  // What the directory says of the accounts that do not simply log in (libs/directory/fixtures/directory.ldif).
  const notes: Record<string, string> = {
    'erin@example.com': 'IMAP routes to an external server; POP3 works',
    'frank@example.com': 'closed: refused',
    'grace@example.com': 'locked: refused',
    'henry@partner.test': "routes to the partner's own servers",
  };
  const accounts = DEMO_ACCOUNTS.map(
    (a) =>
      `    ${a.user.padEnd(22)} password ${a.password.padEnd(16)} on ${a.server} (${mailboxes[a.server].host}:${mailboxes[a.server].imapPort})${notes[a.user] ? `  ${notes[a.user]}` : ''}`,
  ).join('\n');
  process.stdout.write(`
Postern is running on this machine:
  IMAP  127.0.0.1:${ports.imap} (STARTTLS required)   IMAPS 127.0.0.1:${ports.imaps}
  POP3  127.0.0.1:${ports.pop3} (STLS required)       POP3S 127.0.0.1:${ports.pop3s}
  NATS ${nats.url}   memcached ${memcached.address}   directory ${ldif}
  metrics  route-lookup http://127.0.0.1:${lookup.httpPort}/metrics   login-throttle http://127.0.0.1:${throttle.httpPort}/metrics
           mail-proxy http://127.0.0.1:${mail.httpPort}/metrics

Demo accounts (each lives on one mailbox server; Postern finds it):
${accounts}

Log in through Postern (in another terminal):
  curl --cacert ${caFile} imaps://localhost:${ports.imaps}/INBOX -u alice@example.com:alice-secret
  curl --cacert ${caFile} imaps://localhost:${ports.imaps}/INBOX -u alice.smith@example.com:alice-secret   (an alias)
  curl --cacert ${caFile} --ssl-reqd imap://localhost:${ports.imap}/INBOX -u bob@example.com:bob-secret
  curl --cacert ${caFile} pop3s://localhost:${ports.pop3s}/ -u carol@example.org:carol-secret
  openssl s_client -quiet -CAfile ${caFile} -connect localhost:${ports.imaps}
Look a route up:
  npm run --silent lookup -- alice@example.com imapssl

Ctrl-C stops everything.
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping...\n');
    // Postern's services first (they drain over NATS), then what they depend on.
    await Promise.allSettled([mail.stop(), throttle.stop(), lookup.stop()]);
    await Promise.all(piped);
    await mailboxes.stop().catch(() => undefined);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  for (const p of [lookup.process, throttle.process, mail.process, nats.process, memcached.process, mailboxes.mbox1.process, mailboxes.mbox2.process]) {
    p.child.once('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`${p.name} exited (${code}); stopping the stack\n${p.output().slice(-2000)}\n`);
        void stop();
      }
    });
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`postern stack: ${(error as Error).message}\n`);
  await stopAll();
  process.exit(1);
});
