/**
 * The web proxy's pools as the directory makes them, and routes that go stale: the main pool is
 * every server with `zimbraReverseProxyLookupTarget=TRUE` and a mail mode, the login pool the
 * servers `zimbraReverseProxyUpstreamLoginServers` names; a server whose `zimbraMailMode` does not
 * work behind the proxy is left out with the three values named; and when a user's server
 * refuses the connection, the route is dropped here and in the shared cache and the request goes
 * to the server the directory names now. Real slapd, route-lookup, memcached and NATS; real HTTP
 * servers stand in for the mailbox servers' web ports.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authTokenFor,
  canConnect,
  directoryEnv,
  directoryWithWebPorts,
  freePort,
  ldapModify,
  removeDir,
  scratchDir,
  startMemcached,
  startNats,
  startService,
  startSlapd,
  startWebStandIn,
  stopAll,
  waitFor,
  type SeenRequest,
  type ServiceProcess,
  type SlapdServer,
  type WebStandIn,
} from '../harness';

const MBOX1_DN = 'cn=mbox1,cn=servers,cn=zimbra,dc=postern,dc=test';
const ALICE_DN = 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test';

let dir: string;
let proxy: ServiceProcess;
let proxyPort: number;
let slapd: SlapdServer;
const standIns: WebStandIn[] = [];

beforeAll(async () => {
  dir = await scratchDir('web-pools');
  standIns.push(...(await Promise.all([startWebStandIn('mbox1', '127.0.0.2'), startWebStandIn('mbox2', '127.0.0.3')])));
  const [mbox1, mbox2] = standIns.map((standIn) => standIn.port);
  const [nats, memcached, ldap] = await Promise.all([startNats(), startMemcached(), startSlapd({ fixture: directoryWithWebPorts({ mbox1, mbox2 }) })]);
  slapd = ldap;
  const common = { POSTERN_NATS_URLS: nats.url, POSTERN_MEMCACHED_SERVERS: memcached.address };
  proxyPort = await freePort();
  const file = join(dir, 'web-proxy.json');
  writeFileSync(
    file,
    JSON.stringify({
      attributes: {
        zimbraMailProxyPort: proxyPort,
        zimbraReverseProxyMailMode: 'both',
        zimbraReverseProxySSLToUpstreamEnabled: false,
        zimbraReverseProxyUpstreamLoginServers: ['mbox2'],
        posternRouteLookupRequestTimeout: '60s',
      },
    }),
  );
  [, proxy] = await Promise.all([
    startService('route-lookup', { ...common, ...directoryEnv(slapd) }),
    startService('web-proxy', { ...common, ...directoryEnv(slapd), POSTERN_CONFIG_FILE: file, POSTERN_BIND_HOST: '127.0.0.1' }),
  ]);
}, 120_000);

afterAll(async () => {
  await stopAll();
  await Promise.all(standIns.map((standIn) => standIn.stop()));
  if (dir) await removeDir(dir);
});

/** The server that answered a GET through the proxy, from `localAddress`, with its status. */
function served(path: string, options: { cookie?: string; localAddress?: string } = {}): Promise<{ status: number; server: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path,
        headers: { Host: 'mail.example.com', ...(options.cookie ? { Cookie: options.cookie } : {}) },
        localAddress: options.localAddress,
        agent: false,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            server: response.statusCode === 200 ? (JSON.parse(body) as SeenRequest).server : undefined,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('pools from the directory', () => {
  it('the main pool is every lookup target; the login pool the named servers', async () => {
    expect(await proxy.metric('postern_web_pool_servers', { pool: 'main' })).toBe(2);
    expect(await proxy.metric('postern_web_pool_servers', { pool: 'login' })).toBe(1);
    // Mailbox paths that name no user: the main pool, both servers across client addresses.
    const main = new Set<string | undefined>();
    for (let i = 20; i < 40; i++) main.add((await served('/service/extension/x', { localAddress: `127.0.0.${i}` })).server);
    expect(main).toEqual(new Set(['mbox1', 'mbox2']));
  });

  it('the login page and what surrounds it go to the login pool until the client has a token', async () => {
    for (let i = 20; i < 30; i++) {
      expect((await served('/', { localAddress: `127.0.0.${i}` })).server).toBe('mbox2');
      expect((await served('/js/app.js', { localAddress: `127.0.0.${i}` })).server).toBe('mbox2');
    }
    // A token that names no account: not the login pool any more, the main pool.
    const unknownToken = `ZM_AUTH_TOKEN=${authTokenFor('00000000-0000-0000-0000-000000000000')}`;
    const withToken = new Set<string | undefined>();
    for (let i = 20; i < 40; i++) withToken.add((await served('/js/app.js', { cookie: unknownToken, localAddress: `127.0.0.${i}` })).server);
    expect(withToken).toEqual(new Set(['mbox1', 'mbox2']));
    expect(await proxy.metric('postern_web_requests_total', { route: 'login-pool', status: '2xx' })).toBeGreaterThanOrEqual(20);
  });

  it('a server whose mail mode does not work behind the proxy is left out, naming the three values', async () => {
    await ldapModify(slapd, `dn: ${MBOX1_DN}\nchangetype: modify\nreplace: zimbraMailMode\nzimbraMailMode: https\n-\n`);
    proxy.process.child.kill('SIGHUP');
    await waitFor('mbox1 left out', async () => (await proxy.metric('postern_web_pool_servers', { pool: 'refused' })) === 1, { timeoutMs: 30_000 });
    expect(await proxy.metric('postern_web_pool_servers', { pool: 'main' })).toBe(1);
    expect(proxy.process.output()).toMatch(
      /server left out of the pools: zimbraReverseProxySSLToUpstreamEnabled=FALSE, zimbraReverseProxyMailMode=both, zimbraMailMode=https is not a supported combination/,
    );
    for (let i = 20; i < 30; i++) expect((await served('/service/extension/x', { localAddress: `127.0.0.${i}` })).server).toBe('mbox2');
    await ldapModify(slapd, `dn: ${MBOX1_DN}\nchangetype: modify\nreplace: zimbraMailMode\nzimbraMailMode: both\n-\n`);
    proxy.process.child.kill('SIGHUP');
    await waitFor('mbox1 back', async () => (await proxy.metric('postern_web_pool_servers', { pool: 'main' })) === 2, { timeoutMs: 30_000 });
  });
});

describe('a route that went stale', () => {
  it("is dropped when its server refuses, and the request goes to the account's new server", async () => {
    // Alice's route is read once (and so cached in memcached), then her mailbox moves and the old server stops.
    expect((await served('/home/alice@example.com/Inbox')).server).toBe('mbox1');
    await ldapModify(slapd, `dn: ${ALICE_DN}\nchangetype: modify\nreplace: zimbraMailHost\nzimbraMailHost: 127.0.0.3\n-\n`);
    expect((await served('/home/alice@example.com/Inbox')).server).toBe('mbox1');
    await standIns[0]!.stop();
    expect(await served('/home/alice@example.com/Inbox')).toEqual({ status: 200, server: 'mbox2' });
    expect(await proxy.metric('postern_web_routes_dropped_total')).toBe(1);
    // The shared cache was corrected too: the next request needs no second refusal.
    expect((await served('/home/alice@example.com/Inbox')).server).toBe('mbox2');
    expect(await proxy.metric('postern_web_routes_dropped_total')).toBe(1);
  });
});

describe('a changed port', () => {
  it('moves the HTTP listener alone, on SIGHUP, without a restart', async () => {
    const file = join(dir, 'web-proxy.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { attributes: Record<string, unknown> };
    const [oldPort, newPort] = [proxyPort, await freePort()];
    writeFileSync(file, JSON.stringify({ attributes: { ...config.attributes, zimbraMailProxyPort: newPort } }));
    proxy.process.child.kill('SIGHUP');
    await waitFor('HTTP on its new port', () => canConnect('127.0.0.1', newPort));
    proxyPort = newPort;
    expect((await served('/')).status).toBe(200);
    await waitFor('the old port closed', async () => !(await canConnect('127.0.0.1', oldPort)));
  });
});
