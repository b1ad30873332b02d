/**
 * The single-node stack: nats-server (JetStream), memcached, two demo Dovecot mailbox servers
 * (users on each) with a small HTTPS server standing in for each one's web port, and Postern's
 * services in single-node mode (one process tree: apps/single-node) with the embedded LDIF
 * directory (watched by the config-watcher: an edit is applied live), all on loopback
 * (test/harness/single-node.ts starts it). Ctrl-C stops everything it started.
 *
 * Ports: the standard ones when free (NATS 4222, memcached 11211, IMAP 143, IMAPS 993, POP3 110,
 * POP3S 995, HTTP 80, HTTPS 443; override with POSTERN_STACK_<NAME>_PORT), otherwise any free
 * port. What is running, and where, is written to .postern/stack.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { formatLogLine, logFormat } from '@postern/service-kit';
import { DEMO_ACCOUNTS, isolateFromTerminalSignals, startKdc, startStack, stopAll, type StackPortName } from '../test/harness';
import { demoIdentityProvider } from './demo-oauth';

const root = join(__dirname, '..');

/** The standard port of each server, unless POSTERN_STACK_<NAME>_PORT says otherwise. */
const STANDARD_PORTS: Record<StackPortName, number> = { nats: 4222, memcached: 11211, imap: 143, imaps: 993, pop3: 110, pop3s: 995, http: 80, https: 443 };

function preferredPorts(): Record<StackPortName, number> {
  const entries = Object.entries(STANDARD_PORTS).map(([name, port]) => [name, Number(process.env[`POSTERN_STACK_${name.toUpperCase()}_PORT`] ?? port)]);
  return Object.fromEntries(entries) as Record<StackPortName, number>;
}

const KERBEROS_REALM = 'EXAMPLE.COM';

/**
 * The optional demo realm: a KDC on loopback, the proxy's service keys (imap/localhost,
 * pop/localhost) in a keytab, alice and bob with their demo passwords, and the master user the
 * mailbox servers accept for Kerberos logins.
 */
async function startDemoKdc(state: string) {
  const kdc = await startKdc({
    realm: KERBEROS_REALM,
    principals: [{ name: 'imap/localhost' }, { name: 'pop/localhost' }, { name: 'alice', password: 'alice-secret' }, { name: 'bob', password: 'bob-secret' }],
  });
  const keytab = await kdc.keytab(join(state, 'proxy.keytab'), ['imap/localhost', 'pop/localhost']);
  const master = { user: 'postern-master', password: randomBytes(12).toString('hex') };
  return {
    kdc,
    master,
    attributes: {
      zimbraReverseProxyImapSaslGssapiEnabled: true,
      zimbraReverseProxyPop3SaslGssapiEnabled: true,
      posternKrb5Keytab: keytab,
      posternKrb5ImapServicePrincipal: 'imap/localhost',
      posternKrb5Pop3ServicePrincipal: 'pop/localhost',
      posternMasterAuthUser: master.user,
    },
    env: { ...kdc.env, KRB5RCACHENAME: `file2:${join(state, 'proxy.rcache')}`, POSTERN_MASTER_AUTH_PASSWORD: master.password },
  };
}

async function main(): Promise<void> {
  // Ctrl-C reaches this process only; stop() below stops the services before what they depend on.
  isolateFromTerminalSignals();
  // Read first: an invalid POSTERN_LOG_FORMAT stops the stack before it starts anything.
  const text = logFormat() === 'text';
  // POSTERN_STACK_STATE: where the stack keeps its files (.postern by default), for a second stack beside the first.
  const state = process.env.POSTERN_STACK_STATE ?? join(root, '.postern');
  mkdirSync(state, { recursive: true });
  // Kerberos (SASL GSSAPI) is optional: POSTERN_STACK_KERBEROS=1 adds a KDC and turns it on.
  const kerberos = process.env.POSTERN_STACK_KERBEROS === '1' ? await startDemoKdc(state) : undefined;
  // The mailbox servers also take OAuth 2.0 bearer tokens from a demo identity provider (scripts/demo-oauth.ts).
  const idp = await demoIdentityProvider(state);
  const stack = await startStack({
    state,
    preferredPorts: preferredPorts(),
    workers: process.env.POSTERN_WORKERS,
    mailboxOptions: { oauth2: idp.dovecot, ...(kerberos ? { masterUsers: [kerberos.master] } : {}) },
    attributes: { ...idp.attributes, ...(kerberos ? kerberos.attributes : {}) },
    env: kerberos ? kerberos.env : {},
    directory: (ldif) =>
      kerberos ? ldif.replace(/(dn: dc=example\.com,ou=domains,dc=postern,dc=test\r?\n)/, `$1zimbraAuthKerberos5Realm: ${KERBEROS_REALM}\n`) : ldif,
  });
  const tokens = await idp.writeTokens(DEMO_ACCOUNTS.map((a) => a.user));
  const { nats, memcached, mailboxes, node, ports, ldif, caFile } = stack;
  // The services write JSON lines; on a terminal (or with POSTERN_LOG_FORMAT=text) they are printed as text.
  const colour = process.stdout.isTTY === true;
  const lines = createInterface({ input: node.process.child.stdout!, crlfDelay: Infinity });
  lines.on('line', (line) => process.stdout.write(`${text ? formatLogLine(line, { colour }) : line}\n`));
  // The process's last lines can still be in its pipe when it has exited: wait for the pipe to close.
  const piped = new Promise<void>((resolve) => lines.once('close', () => resolve()));

  writeFileSync(
    join(state, 'stack.json'),
    JSON.stringify(
      {
        nats: nats.url,
        memcached: memcached.address,
        directory: ldif,
        ports,
        services: {
          'single-node': {
            pid: node.process.pid,
            hosts: ['config-watcher', 'route-lookup', 'login-throttle', 'mail-proxy', 'web-proxy'],
            metrics: `http://127.0.0.1:${node.httpPort}/metrics`,
          },
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
  const cliEnv = `POSTERN_NATS_URLS=${nats.url} POSTERN_MEMCACHED_SERVERS=${memcached.address} POSTERN_DIRECTORY_LDIF=${ldif}`;
  writeFileSync(join(state, 'cli.env'), `${cliEnv.split(' ').join('\n')}\n`);
  process.stdout.write(`
Postern is running on this machine:
  IMAP  127.0.0.1:${ports.imap} (STARTTLS required)   IMAPS 127.0.0.1:${ports.imaps}
  POP3  127.0.0.1:${ports.pop3} (STLS required)       POP3S 127.0.0.1:${ports.pop3s}
  HTTP  127.0.0.1:${ports.http}                        HTTPS 127.0.0.1:${ports.https}
  NATS ${nats.url}   memcached ${memcached.address}   directory ${ldif}
  every service (config-watcher, route-lookup, login-throttle, mail-proxy, web-proxy) in one single-node process
  metrics  http://127.0.0.1:${node.httpPort}/metrics (a service label on each series)   health http://127.0.0.1:${node.httpPort}/health

Demo accounts (each lives on one mailbox server; Postern finds it):
${accounts}

Log in through Postern (in another terminal):
  curl --cacert ${caFile} imaps://localhost:${ports.imaps}/INBOX -u alice@example.com:alice-secret
  curl --cacert ${caFile} imaps://localhost:${ports.imaps}/INBOX -u alice.smith@example.com:alice-secret   (an alias)
  curl --cacert ${caFile} --ssl-reqd imap://localhost:${ports.imap}/INBOX -u bob@example.com:bob-secret
  curl --cacert ${caFile} pop3s://localhost:${ports.pop3s}/ -u carol@example.org:carol-secret
  curl --cacert ${caFile} imaps://localhost:${ports.imaps}/INBOX -u alice@example.com: --oauth2-bearer $(cat ${tokens}/alice@example.com.jwt)   (OAUTHBEARER)
  openssl s_client -quiet -CAfile ${caFile} -connect localhost:${ports.imaps}
  curl -skv --resolve mail.example.com:${ports.imaps}:127.0.0.1 imaps://mail.example.com:${ports.imaps}/INBOX -u alice@example.com:alice-secret 2>&1 | grep subject:   (SNI: example.com's own certificate)
The web: each answer says which mailbox server's web port answered ("server"):
  curl -s http://localhost:${ports.http}/home/alice@example.com/Inbox           (by user: mbox1)
  curl -s http://localhost:${ports.http}/dav/bob@example.com/Calendar/          (by user: mbox2)
  curl -s -b ZM_AUTH_TOKEN=${demoToken('c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01')} http://localhost:${ports.http}/service/soap   (by alice's auth token: mbox1)
  curl -s http://localhost:${ports.http}/                                       (no user, no token: the login pool, mbox2)
  curl -sv --resolve mail.example.com:${ports.https}:127.0.0.1 -k https://mail.example.com:${ports.https}/ 2>&1 | grep subject:   (SNI: example.com's certificate)
  curl -sv -k https://localhost:${ports.https}/ 2>&1 | grep subject:              (any other name: the default)
  curl -s -k --http2 -w ' %{http_version}\\n' https://localhost:${ports.https}/home/bob@example.com/Inbox   (HTTP/2; every line of the access log says h1/h2/ws)
${
  kerberos
    ? `Kerberos (GSSAPI; realm ${KERBEROS_REALM} = example.com, KDC ${kerberos.kdc.port}):
  export KRB5_CONFIG=${kerberos.kdc.env.KRB5_CONFIG} KRB5CCNAME=FILE:${join(state, 'krb5cc')}
  echo alice-secret | kinit alice@${KERBEROS_REALM}
  curl --login-options AUTH=GSSAPI -u alice@${KERBEROS_REALM}: imap://localhost:${ports.imap}/ -X 'STATUS INBOX (MESSAGES)'   (no password sent; allowed before STARTTLS)
`
    : `Kerberos (GSSAPI) is off; POSTERN_STACK_KERBEROS=1 npm start adds a KDC and turns it on.
`
}Operate it with the postern command line (first: export ${cliEnv}):
  npm run --silent postern -- config show                      (the effective config, and where each value comes from)
  npm run --silent postern -- events list --follow             (then edit ${ldif}: each change is an event, applied live)
  npm run --silent postern -- route alice.smith@example.com    (a route, and whether it came from the cache or the directory)
  npm run --silent postern -- sessions list                    (the open mail sessions; sessions kick USER ends them)
  npm run --silent postern -- cache purge alice@example.com    (as zmproxypurge)
  npm run --silent postern -- rest-url bob@example.com
  npm run --silent postern -- --help

Ctrl-C stops everything.
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping...\n');
    await node.stop().catch(() => undefined);
    await piped;
    await stack.stop();
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // The terminal closed: stop as for Ctrl-C (the services are in process groups of their own and
  // would outlive this process). Nothing can be printed any more: a write to the gone terminal fails.
  process.on('SIGHUP', () => {
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    void stop();
  });
  for (const p of [node.process, nats.process, memcached.process, mailboxes.mbox1.process, mailboxes.mbox2.process]) {
    p.child.once('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`${p.name} exited (${code}); stopping the stack\n${p.output().slice(-2000)}\n`);
        void stop();
      }
    });
  }
}

/** A Zimbra-shaped auth token for an account id (the proxy routes by it; the demo's stand-ins check nothing). */
function demoToken(accountId: string): string {
  const data = `id=${accountId.length}:${accountId};exp=13:4102444800000;type=6:zimbra;`;
  return `0_0000000000000000_${Buffer.from(data, 'latin1').toString('hex')}`;
}

main().catch(async (error: unknown) => {
  process.stderr.write(`postern stack: ${(error as Error).message}\n`);
  await stopAll();
  process.exit(1);
});
