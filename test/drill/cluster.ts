/**
 * The drill's cluster, on loopback, with the engines an operator runs across machines: a 3-node
 * NATS cluster (JetStream replicated over the three for the config stream and bucket), two
 * memcached servers, two of each Postern service, HAProxy in front of the two mail-proxies sending
 * the PROXY protocol (v2 for IMAP and IMAPS, v1 for POP3 and POP3S), real Dovecot behind them and
 * slapd as the directory.
 *
 * The parts the drill kills are {@link Part}s: each knows how to be killed (SIGKILL), started again
 * as it was (same ports; a NATS node on its own store), and when it is back in service.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  directoryEnv,
  directoryLdifFor,
  freePort,
  LIMITS_ON_NEVER_DENY,
  makeCertificate,
  startHaproxy,
  haproxyPreamble,
  memcachedStats,
  startMailboxServers,
  startMemcached,
  startNatsCluster,
  startService,
  startSlapd,
  type DemoAccount,
  type MailboxServers,
  type ManagedProcess,
  type MemcachedServer,
  type NatsCluster,
  type ServiceProcess,
  type SlapdServer,
  type TestCertificate,
} from '../harness';
import { benchAccountsLdif } from '../bench/support/accounts';

export type Role = 'route-lookup' | 'login-throttle' | 'mail-proxy' | 'config-watcher' | 'web-proxy';
export const ROLES: readonly Role[] = ['route-lookup', 'login-throttle', 'mail-proxy', 'config-watcher', 'web-proxy'];

export type Protocol = 'imap' | 'imaps' | 'pop3' | 'pop3s';
export const PROTOCOLS: readonly Protocol[] = ['imap', 'imaps', 'pop3', 'pop3s'];

export interface DrillClusterOptions {
  /** Accounts the load logs in as, spread over the two Dovecot servers. */
  readonly users: number;
  /** `zimbraReverseProxyCacheEntryTTL`: short, so that lookups keep reaching route-lookup and LDAP. */
  readonly routeTtl: string;
  /** `zimbraReverseProxyCacheReconnectInterval`: how long a memcached server that failed is skipped. */
  readonly cacheRetry: string;
  /** `posternFailedLoginIpLimit`: failed logins from one address before its logins are refused. */
  readonly failedLoginIpLimit: number;
  readonly logLevel: string;
}

/** A fixture account whose mailbox server cannot be reached: a login as it is an upstream error. */
export const UNREACHABLE: DrillAccount = { user: 'erin@example.com', password: 'erin-secret' };

/** What the throttle says to an address over its failed-login limit (the abuser's tell). */
export const IP_MESSAGE = 'Too many failed logins from your address';

/** One process (or server) the drill kills and starts again. */
export interface Part {
  readonly name: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** True once the restarted part does its work again (answers, is sent traffic, holds keys). */
  backInService(): Promise<boolean>;
}

export interface DrillAccount {
  readonly user: string;
  readonly password: string;
}

export interface DrillCluster {
  readonly nats: NatsCluster;
  readonly memcached: MemcachedServer[];
  /** The running processes of each role (a restarted one replaces the killed one). */
  readonly services: Record<Role, ServiceProcess[]>;
  readonly haproxy: ManagedProcess;
  /** HAProxy's ports, where the load connects. */
  readonly front: Readonly<Record<Protocol, number>>;
  /** The web-proxies' HTTP ports. */
  readonly webPorts: readonly number[];
  /** The CA of the certificate the mail-proxies present. */
  readonly caPem: string;
  readonly accounts: readonly DrillAccount[];
  /** An account the abuser guesses at with {@link DrillCluster.wrongPassword}. */
  readonly victim: DrillAccount;
  readonly wrongPassword: string;
  /** Every password the drill uses, right and wrong: none may leave the login. */
  readonly passwords: readonly string[];
  /** The faults, in the order the drill runs them. */
  readonly parts: readonly Part[];
  stop(): Promise<void>;
}

const BALANCER = '127.0.0.1';

/** Operations memcached served for clients (the drill's own `stats` connections do not count). */
const served = (stats: Record<string, number>) => (stats.cmd_get ?? 0) + (stats.cmd_set ?? 0) + (stats.incr_hits ?? 0) + (stats.incr_misses ?? 0);

export async function startDrillCluster(dir: string, options: DrillClusterOptions): Promise<DrillCluster> {
  const secret = () => randomBytes(9).toString('base64url');
  const accounts: DrillAccount[] = Array.from({ length: options.users + 1 }, (_, i) => ({ user: `bench${i}@example.com`, password: `pw-${secret()}` }));
  const victim = accounts.pop()!;
  const wrongPassword = `wrong-${secret()}`;
  const onServer = (i: number): DemoAccount['server'] => (i % 2 === 0 ? 'mbox1' : 'mbox2');
  const everyone = [...accounts, victim];

  let upstreams: MailboxServers | undefined;
  let nats: NatsCluster | undefined;
  let certificate: TestCertificate | undefined;
  try {
    upstreams = await startMailboxServers({ users: everyone.map((a, i) => ({ ...a, server: onServer(i) })) });
    const hosts = upstreams.servers.map((s) => s.host);
    certificate = await makeCertificate({ commonName: 'postern.test', altNames: ['postern.test', 'localhost', '127.0.0.1'] });
    let slapd: SlapdServer;
    let memcached: MemcachedServer[];
    [nats, slapd, ...memcached] = await Promise.all([
      startNatsCluster(3, { jetstream: true }),
      startSlapd({ fixture: directoryLdifFor(upstreams), ldif: benchAccountsLdif({ count: everyone.length, mailHost: (i) => hosts[i % 2]! }) }),
      startMemcached(),
      startMemcached(),
    ]);
    const common = {
      POSTERN_NATS_URLS: nats.urls.join(','),
      POSTERN_MEMCACHED_SERVERS: memcached.map((m) => m.address).join(','),
      POSTERN_LOG_LEVEL: options.logLevel,
    };
    const limits = {
      ...LIMITS_ON_NEVER_DENY,
      posternFailedLoginIpLimit: options.failedLoginIpLimit,
      posternFailedLoginIpLimitTime: 3600,
      zimbraReverseProxyIpThrottleMsg: IP_MESSAGE,
      zimbraReverseProxyAuthWaitInterval: '100ms',
      zimbraReverseProxyCacheEntryTTL: options.routeTtl,
      zimbraReverseProxyCacheReconnectInterval: options.cacheRetry,
    };
    const file = (name: string, attributes: Record<string, unknown>) => {
      const path = join(dir, `${name}.json`);
      writeFileSync(path, JSON.stringify({ attributes: { ...limits, ...attributes } }));
      return path;
    };
    const mailPorts = await Promise.all(
      [0, 1].map(async () => ({ imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() })),
    );
    const [webA, webB] = [await freePort(), await freePort()];
    const mailFile = (i: number) =>
      file(`mail-proxy-${i}`, {
        zimbraImapProxyBindPort: mailPorts[i]!.imap,
        zimbraImapSSLProxyBindPort: mailPorts[i]!.imaps,
        zimbraPop3ProxyBindPort: mailPorts[i]!.pop3,
        zimbraPop3SSLProxyBindPort: mailPorts[i]!.pop3s,
        posternProxyProtocolTrustedNetworks: [BALANCER],
        zimbraReverseProxySSLToUpstreamEnabled: false,
        zimbraReverseProxyImapStartTlsMode: 'off',
        zimbraReverseProxyPop3StartTlsMode: 'off',
        zimbraReverseProxyMailMode: 'http',
        // One proxy asks the throttle service over NATS, the other decides its checks itself (the
        // default): the limits are one limit across both, and every fault hits both kinds.
        ...(i === 0 ? { posternThrottleChecks: 'service' } : {}),
      });
    const webFile = (port: number) =>
      file(`web-proxy-${port}`, { zimbraMailProxyPort: port, zimbraReverseProxySSLToUpstreamEnabled: false, zimbraReverseProxyMailMode: 'http' });
    const tls = { POSTERN_TLS_CERT_FILE: certificate.certFile, POSTERN_TLS_KEY_FILE: certificate.keyFile };
    const throttleFile = file('login-throttle', {});
    const lookupFile = file('route-lookup', {});
    const started = await Promise.all([
      ...[0, 1].map(() => startService('route-lookup', { ...common, ...directoryEnv(slapd), POSTERN_CONFIG_FILE: lookupFile })),
      ...[0, 1].map(() => startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleFile })),
      ...[0, 1].map((i) => startService('mail-proxy', { ...common, ...tls, POSTERN_CONFIG_FILE: mailFile(i), POSTERN_BIND_HOST: '127.0.0.1' })),
      ...[0, 1].map(() => startService('config-watcher', { ...common, ...directoryEnv(slapd), POSTERN_CONFIG_REPLICAS: '3' })),
      ...[webA, webB].map((port) =>
        startService('web-proxy', { ...common, ...directoryEnv(slapd), POSTERN_CONFIG_FILE: webFile(port), POSTERN_BIND_HOST: '127.0.0.1' }),
      ),
    ]);
    const services = Object.fromEntries(ROLES.map((role, r) => [role, started.slice(2 * r, 2 * r + 2)])) as Record<Role, ServiceProcess[]>;

    const front = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
    const sends: Record<Protocol, string> = { imap: 'send-proxy-v2', imaps: 'send-proxy-v2', pop3: 'send-proxy', pop3s: 'send-proxy' };
    const haproxy = await startHaproxy(
      dir,
      'haproxy',
      [
        ...haproxyPreamble('tcp', '2s'),
        // A connection refused by a dead proxy is tried again on the other one.
        '  retries 3',
        '  option redispatch 1',
        ...PROTOCOLS.flatMap((protocol) => [
          `frontend ${protocol}`,
          `  bind 127.0.0.1:${front[protocol]}`,
          `  default_backend ${protocol}`,
          `backend ${protocol}`,
          '  balance roundrobin',
          ...mailPorts.map((ports, i) => `  server mail-proxy-${i} ${BALANCER}:${ports[protocol]} ${sends[protocol]} check inter 250ms fall 1 rise 2`),
        ]),
        '',
      ].join('\n'),
      Object.values(front),
    );

    const cluster = nats;
    const serviceParts = (role: Role, metric: string): Part => ({
      name: role,
      kill: () => services[role][0]!.process.kill(),
      async restart() {
        services[role][0] = await services[role][0]!.restart();
      },
      backInService: async () => (await services[role][0]!.metric(metric)) > 0,
    });
    const natsNode = 2;
    const cacheNode = 1;
    const parts: Part[] = [
      {
        name: 'NATS node',
        kill: () => cluster.servers[natsNode]!.process.kill(),
        restart: async () => void (await cluster.restart(natsNode)),
        // restart() returns once the node has its routes and JetStream is current on it.
        backInService: async () => true,
      },
      {
        name: 'memcached',
        kill: () => memcached[cacheNode]!.process.kill(),
        async restart() {
          memcached[cacheNode] = await startMemcached({ port: memcached[cacheNode]!.port });
        },
        backInService: async () => served(await memcachedStats(memcached[cacheNode]!.address)) > 0,
      },
      serviceParts('route-lookup', 'postern_route_lookups_total'),
      serviceParts('login-throttle', 'postern_throttle_checks_total'),
      serviceParts('mail-proxy', 'postern_mail_logins_total'),
    ];
    const mailboxes = upstreams;
    const cert = certificate;
    return {
      nats: cluster,
      memcached,
      services,
      haproxy,
      front,
      webPorts: [webA, webB],
      caPem: cert.caPem,
      accounts,
      victim,
      wrongPassword,
      passwords: [...everyone.map((a) => a.password), wrongPassword, UNREACHABLE.password],
      parts,
      async stop() {
        await haproxy.stop();
        await Promise.all(Object.values(services).flatMap((list) => list.map((s) => s.stop())));
        await Promise.all([cluster.stop(), ...memcached.map((m) => m.stop()), slapd.stop(), mailboxes.stop(), cert.remove()]);
      },
    };
  } catch (error) {
    await nats?.stop();
    await upstreams?.stop();
    await certificate?.remove();
    throw error;
  }
}
