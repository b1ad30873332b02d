/**
 * The Grafana dashboard (deploy/grafana/postern.json) against a real Prometheus (Debian's)
 * scraping a running stack — two mail proxies, web-proxy, route-lookup, login-throttle and the
 * config-watcher, real Dovecot, slapd, NATS and memcached — after traffic that makes each thing a
 * panel shows happen (good and bad logins, a throttle denial, a throttle that does not answer, an
 * upstream that cannot be reached, a held session, a web request, config events): every panel's
 * every query returns data. The recording rules are loaded too, and evaluate.
 *
 * The same traffic proves no password leaves the login: every NATS message of the bus (a `>`
 * subscriber from before the first login), every memcached key and value, and every line every
 * service logged are scanned for the passwords used, right and wrong.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dashboardQueries,
  directoryEnv,
  dumpMemcached,
  freePort,
  LineClient,
  panelsWithoutData,
  PATIENT_BUDGETS,
  removeDir,
  scratchDir,
  startMailboxServers,
  startMailProxy,
  startMemcached,
  startNats,
  startPrometheus,
  startService,
  startSlapd,
  startWebStandIn,
  stopAll,
  waitFor,
  type MailboxServers,
  type MailProxyProcess,
  type PrometheusServer,
  type ServiceProcess,
  type WebStandIn,
} from '../harness';

let dir: string;
let upstreams: MailboxServers;
let standIn: WebStandIn;
let prometheus: PrometheusServer;
let mail: MailProxyProcess;
let orphan: MailProxyProcess;
let webPort: number;
let held: LineClient;
let memcachedAddress: string;
const services: ServiceProcess[] = [];
/** Every message seen on the buses: subject and payload. */
const bus: { subject: string; data: Uint8Array }[] = [];
const taps: NatsConnection[] = [];
const PASSWORDS = ['carol-secret', 'not-his-password', 'erin-secret', 'alice-secret'];

/** The user limit (2 logins per user per window) is on in the throttle and the proxies alike. */
const LIMITS = { zimbraReverseProxyUserLoginLimit: 2, zimbraReverseProxyUserLoginLimitTime: 3600 };
const MAIL = {
  ...PATIENT_BUDGETS,
  ...LIMITS,
  zimbraReverseProxySSLToUpstreamEnabled: false,
  zimbraReverseProxyImapStartTlsMode: 'off',
  zimbraReverseProxyAuthWaitInterval: '100ms',
};

async function login(proxy: MailProxyProcess, user: string, password: string, keep = false): Promise<string> {
  const client = await LineClient.connect({ port: proxy.imap });
  await client.line();
  client.send(`a1 LOGIN ${user} ${password}\r\n`);
  const result = (await client.until('a1 ')).at(-1)!;
  if (keep) held = client;
  else client.send('a2 LOGOUT\r\n');
  return result;
}

beforeAll(async () => {
  dir = await scratchDir('dashboard');
  upstreams = await startMailboxServers();
  standIn = await startWebStandIn('mbox1', '127.0.0.2');
  const [nats, otherNats, memcached, slapd] = await Promise.all([startNats(), startNats(), startMemcached(), startSlapd({ fixture: upstreams.ldif })]);
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  memcachedAddress = memcached.address;
  // The main bus only: on the orphan's a `>` subscriber would itself count as a throttle responder.
  for (const server of [nats]) {
    const tap = await connect({ servers: server.url, name: 'test-tap' });
    tap.subscribe('>', {
      callback: (_error, msg) => {
        bus.push({ subject: msg.subject, data: msg.data });
      },
    });
    await tap.flush();
    taps.push(tap);
  }
  const throttleFile = join(dir, 'login-throttle.json');
  writeFileSync(throttleFile, JSON.stringify({ attributes: LIMITS }));
  webPort = await freePort();
  const webFile = join(dir, 'web-proxy.json');
  writeFileSync(
    webFile,
    JSON.stringify({
      attributes: { zimbraMailProxyPort: webPort, zimbraReverseProxySSLToUpstreamEnabled: false, posternWebUpstreamPool: [`127.0.0.2:${standIn.port}`] },
    }),
  );
  const [watcher, lookup, throttle, web] = await Promise.all([
    startService('config-watcher', { ...common, ...directoryEnv(slapd) }),
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('login-throttle', { ...common, POSTERN_CONFIG_FILE: throttleFile }),
    startService('web-proxy', { ...common, POSTERN_CONFIG_FILE: webFile, POSTERN_BIND_HOST: '127.0.0.1' }),
  ]);
  mail = await startMailProxy(dir, 'mail-proxy', common, MAIL);
  // A proxy that asks the throttle service, on a NATS of its own: the throttle never answers it,
  // the fail mode decides (routes come from the shared cache). `mail` decides its checks itself.
  orphan = await startMailProxy(dir, 'orphan', { ...common, POSTERN_NATS_URLS: otherNats.url }, { ...MAIL, posternThrottleChecks: 'service' });
  services.push(watcher, lookup, throttle, web, mail.service, orphan.service);
  const at = (port: number) => `127.0.0.1:${port}`;
  prometheus = await startPrometheus({
    'postern-mail-proxy': [at(mail.service.httpPort), at(orphan.service.httpPort)],
    'postern-web-proxy': [at(web.httpPort)],
    'postern-route-lookup': [at(lookup.httpPort)],
    'postern-login-throttle': [at(throttle.httpPort)],
    'postern-config-watcher': [at(watcher.httpPort)],
  });

  // The traffic each panel needs.
  expect(await login(mail, 'carol@example.org', 'carol-secret')).toMatch(/^a1 OK/);
  expect(await login(mail, 'carol@example.org', 'carol-secret')).toMatch(/^a1 OK/);
  expect(await login(mail, 'carol@example.org', 'carol-secret')).toMatch(/^a1 NO/); // over the user limit
  expect(await login(mail, 'bob@example.com', 'not-his-password')).toMatch(/^a1 NO/);
  expect(await login(mail, 'erin@example.com', 'erin-secret')).toMatch(/^a1 NO \[UNAVAILABLE\]/); // her IMAP server does not resolve
  expect(await login(mail, 'alice@example.com', 'alice-secret', true)).toMatch(/^a1 OK/); // held open
  expect(await login(orphan, 'carol@example.org', 'carol-secret')).toMatch(/^a1 OK/); // the fail mode let it through
  expect((await fetch(`http://127.0.0.1:${webPort}/`)).status).toBe(200);
}, 180_000);

afterAll(async () => {
  held?.send('a9 LOGOUT\r\n');
  await Promise.all(taps.map((tap) => tap.close()));
  await stopAll();
  await standIn?.stop();
  await upstreams?.stop();
  if (dir) await removeDir(dir);
});

describe('the Grafana dashboard', () => {
  it('every panel query returns data from a real Prometheus scraping the stack', async () => {
    const { uid, queries } = dashboardQueries();
    expect(uid).toBe('postern');
    expect(queries.length).toBeGreaterThanOrEqual(18);
    expect(await panelsWithoutData(prometheus, 60_000)).toEqual([]);
    // Every target is up, and the recording rules evaluate.
    expect((await prometheus.query('up == 0')).map((r) => r.metric.job)).toEqual([]);
    // A rule's result is written at the evaluation after the samples it reads: poll, do not sample once.
    await waitFor('the recording rule postern:mail_logins:rate5m', async () => (await prometheus.query('postern:mail_logins:rate5m')).length > 0, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
  });

  it('no password reaches the bus, the cache or a log', async () => {
    const found = (where: string, text: string) => PASSWORDS.filter((p) => text.includes(p)).map((p) => `${p} in ${where}`);
    const hits: string[] = [];
    expect(bus.some((m) => m.subject === 'postern.route.lookup.v1')).toBe(true);
    for (const message of bus) hits.push(...found(`NATS ${message.subject}`, Buffer.from(message.data).toString('latin1')));
    const cached = await dumpMemcached(memcachedAddress);
    expect(cached.length).toBeGreaterThan(0);
    for (const { key, value } of cached) hits.push(...found(`memcached ${key}`, `${key} ${value.toString('latin1')}`));
    for (const service of services) {
      const output = service.process.output();
      expect(output).toContain('"msg"');
      hits.push(...found(`${service.name}'s log`, output));
    }
    expect(hits).toEqual([]);
    // The scan reads what it should: the same places do carry the logins' names.
    expect(bus.some((m) => Buffer.from(m.data).toString('latin1').includes('erin@example.com'))).toBe(true);
    expect(cached.some(({ value }) => value.toString('latin1').includes('carol@example.org'))).toBe(true);
  });
});
