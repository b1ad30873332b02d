/**
 * The directory library against a real slapd (Postern schema + shared fixture) and against the
 * embedded LDIF directory: the same cases must give the same answers on both. Then what only the
 * LDAP backend has: failover, bind failures, a hung server, an outage and its end.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attr,
  attrs,
  DIRECTORY_FIXTURE_PATH,
  DirectoryUnavailableError,
  LdapDirectory,
  LdifDirectory,
  ZimbraDirectory,
  type DirectoryBackend,
} from '@postern/directory';
import { freePort, startSlapd, waitFor, type SlapdServer } from '../harness';

const ALICE_ID = 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01';
const EXAMPLE_COM_ID = '9b8e1d2c-4a5f-4e3b-8c7d-6a5b4c3d2e01';
const BASE_DN = 'dc=postern,dc=test';
// Short deadlines keep the outage tests fast; loopback answers in well under a millisecond.
const CONNECT_TIMEOUT_MS = 500;
const TIMEOUT_MS = 1_000;
// Scheduling slack for a loaded CI machine on top of a deadline.
const MARGIN_MS = 2_000;

// One account with non-ASCII addresses, loaded into both backends: proves that escaped UTF-8
// reaches slapd as the right bytes (ldapts' own filter parser would send them double-encoded).
const EXTRA_LDIF = `
dn: uid=jurgen,ou=people,dc=example.com,ou=domains,dc=postern,dc=test
objectClass: inetOrgPerson
objectClass: zimbraAccount
uid: jurgen
cn: Jürgen Groß
sn: Groß
zimbraId: c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e99
zimbraMailDeliveryAddress: jurgen@example.com
zimbraMailAlias:: ${Buffer.from('jürgen@example.com').toString('base64')}
zimbraMailAlias: 用户@example.com
zimbraMailHost: 127.0.0.2
zimbraAccountStatus: active
`;

let slapd: SlapdServer;

beforeAll(async () => {
  slapd = await startSlapd({ ldif: EXTRA_LDIF });
});

afterAll(async () => {
  await slapd?.stop();
});

function ldap(overrides: Partial<ConstructorParameters<typeof LdapDirectory>[0]> = {}): LdapDirectory {
  return new LdapDirectory({
    urls: [slapd.url],
    baseDn: slapd.baseDn,
    bindDn: slapd.rootDn,
    bindPassword: slapd.rootPassword,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    timeoutMs: TIMEOUT_MS,
    ...overrides,
  });
}

const backends: [string, () => DirectoryBackend][] = [
  ['LDAP (slapd, bound)', () => ldap()],
  ['LDAP (slapd, anonymous)', () => ldap({ bindDn: undefined, bindPassword: undefined })],
  ['LDIF (in memory)', () => LdifDirectory.fromString(`${readFileSync(DIRECTORY_FIXTURE_PATH, 'utf8')}\n${EXTRA_LDIF}`, { baseDn: BASE_DN })],
];

describe.each(backends)('ZimbraDirectory over %s', (_name, open) => {
  let backend: DirectoryBackend;
  let zimbra: ZimbraDirectory;

  beforeAll(() => {
    backend = open();
    zimbra = new ZimbraDirectory(backend);
  });

  afterAll(async () => {
    await backend.close();
  });

  it('finds alice by delivery address', async () => {
    const alice = await zimbra.findAccount('alice@example.com');
    expect(alice).toMatchObject({
      id: ALICE_ID,
      name: 'alice@example.com',
      mailHost: '127.0.0.2',
      status: 'active',
      dn: 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test',
    });
    expect([...(alice?.aliases ?? [])].sort()).toEqual(['al@example.com', 'alice.smith@example.com']);
  });

  it.each(['al@example.com', 'AL@Example.COM', 'alice.smith@example.com', ALICE_ID, ALICE_ID.toUpperCase()])('finds alice by %s', async (login) => {
    expect((await zimbra.findAccount(login))?.name).toBe('alice@example.com');
  });

  it.each(['jürgen@example.com', 'Jürgen@EXAMPLE.com', '用户@example.com'])('finds a non-ASCII alias: %s', async (login) => {
    expect((await zimbra.findAccount(login))?.name).toBe('jurgen@example.com');
  });

  it.each(['nobody@example.com', 'alice', 'alice@example.org', 'ålice@exämple.com', '用户@example.org', 'jurgen*'])('unknown %s → null', async (login) => {
    expect(await zimbra.findAccount(login)).toBeNull();
  });

  it.each(['*)(zimbraMailDeliveryAddress=*', '*', 'alice*', '*)(|(objectClass=*)', 'alice@example.com)(zimbraId=*', '\\2a', 'x\0y'])(
    'filter injection %j finds nobody',
    async (login) => {
      expect(await zimbra.findAccount(login)).toBeNull();
    },
  );

  it('reads account status and external-route attributes', async () => {
    expect((await zimbra.findAccount('frank@example.com'))?.status).toBe('closed');
    expect((await zimbra.findAccount('grace@example.com'))?.status).toBe('locked');
    const erin = await zimbra.findAccount('erin@example.com');
    expect(attr(erin?.attributes ?? {}, 'zimbraReverseProxyUseExternalRoute')).toBe('TRUE');
    expect(attr(erin?.attributes ?? {}, 'zimbraExternalImapPort')).toBe('1143');
    expect(attr(erin?.attributes ?? {}, 'zimbraExternalPop3Hostname')).toBeUndefined();
  });

  it('finds the domain by virtual IP and by virtual host name', async () => {
    expect(await zimbra.findDomainByVirtualIp('127.0.0.10')).toMatchObject({ id: EXAMPLE_COM_ID, name: 'example.com', type: 'local' });
    expect((await zimbra.findDomainByVirtualIp('127.0.0.11'))?.name).toBe('example.org');
    expect(await zimbra.findDomainByVirtualIp('127.0.0.99')).toBeNull();
    const byHost = await zimbra.findDomainByVirtualHostname('WEBMAIL.example.com');
    expect(byHost?.name).toBe('example.com');
    expect([...(byHost?.virtualHostnames ?? [])].sort()).toEqual(['mail.example.com', 'webmail.example.com']);
    expect(await zimbra.findDomainByVirtualHostname('mail.example.*')).toBeNull();
  });

  it('resolves the alias domain example.net to its target', async () => {
    const alias = await zimbra.findDomainByName('example.net');
    expect(alias).toMatchObject({ type: 'alias', aliasTargetId: EXAMPLE_COM_ID });
    expect((await zimbra.findDomainById(alias?.aliasTargetId ?? ''))?.name).toBe('example.com');
  });

  it('reads allowed IPs and domain external routes', async () => {
    expect([...((await zimbra.findDomainByName('example.org'))?.allowedIps ?? [])].sort()).toEqual(['127.0.0.1', '192.0.2.0/24']);
    const partner = await zimbra.findDomainByName('partner.test');
    expect(attr(partner?.attributes ?? {}, 'zimbraReverseProxyUseExternalRouteIfAccountNotExist')).toBe('TRUE');
    expect(attr(partner?.attributes ?? {}, 'zimbraExternalPop3SSLPort')).toBe('995');
  });

  it('finds servers by service host name; mbox2 has no POP3S port', async () => {
    const mbox2 = await zimbra.findServer('127.0.0.3');
    expect(mbox2).toMatchObject({ name: 'mbox2', serviceHostname: '127.0.0.3' });
    expect(attr(mbox2?.attributes ?? {}, 'zimbraImapBindPort')).toBe('7143');
    expect(attr(mbox2?.attributes ?? {}, 'zimbraPop3SSLBindPort')).toBeUndefined();
    expect(attr((await zimbra.findServer('127.0.0.2'))?.attributes ?? {}, 'zimbraPop3SSLBindPort')).toBe('7995');
    expect(await zimbra.findServer('127.0.0.9')).toBeNull();
    expect((await zimbra.listServers()).map((s) => s.name).sort()).toEqual(['mbox1', 'mbox2', 'proxy1']);
  });

  it('reads the global config and a server-level override', async () => {
    const global = await zimbra.globalConfig();
    expect(attr(global, 'zimbraDefaultDomainName')).toBe('example.com');
    expect(attr(global, 'zimbraPop3SSLBindPort')).toBe('7995');
    expect(attr(global, 'zimbraReverseProxyAuthWaitInterval')).toBe('10s');
    expect(attrs(global, 'zimbraMailTrustedIP')).toEqual(['127.0.0.1']);
    const proxy1 = (await zimbra.listServers()).find((s) => s.name === 'proxy1');
    expect(attr(proxy1?.attributes ?? {}, 'zimbraReverseProxyAuthWaitInterval')).toBe('2s');
  });

  it('selects attributes and honours the size limit at the backend', async () => {
    const entries = await backend.search('(objectClass=zimbraAccount)', { attributes: ['zimbraMailHost'], sizeLimit: 2 });
    expect(await backend.search('(objectClass=zimbraAccount)', { attributes: ['1.1'] })).toHaveLength(8);
    expect(entries).toHaveLength(2);
    for (const entry of entries) expect(Object.keys(entry.attributes)).toEqual(['zimbraMailHost']);
    expect(await backend.search('(objectClass=*)', { base: 'ou=nowhere,dc=postern,dc=test' })).toEqual([]);
  });
});

describe('LdapDirectory failure handling', () => {
  it('fails over from a dead URL to the live one', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const directory = ldap({ urls: [dead, slapd.url] });
    try {
      expect((await new ZimbraDirectory(directory).findAccount('bob@example.com'))?.mailHost).toBe('127.0.0.3');
      expect(directory.connectedUrl).toBe(slapd.url);
    } finally {
      await directory.close();
    }
  });

  it('a wrong bind password is a DirectoryUnavailableError, not "not found"', async () => {
    const directory = ldap({ bindPassword: 'wrong' });
    try {
      const error = await directory.search('(uid=alice)').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DirectoryUnavailableError);
    } finally {
      await directory.close();
    }
  });

  it('a server that accepts but never answers: rejects within the deadline, then fails over', async () => {
    const sockets = new Set<Socket>();
    const silent: NetServer = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const silentUrl = `ldap://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const alone = ldap({ urls: [silentUrl] });
    const withBackup = ldap({ urls: [silentUrl, slapd.url] });
    try {
      let started = Date.now();
      await expect(alone.search('(uid=alice)')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + TIMEOUT_MS + MARGIN_MS);

      started = Date.now();
      expect(await withBackup.search('(uid=alice)')).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + TIMEOUT_MS + MARGIN_MS);
      // The silent URL is now penalised: the next connection goes straight to the live server.
      expect(withBackup.connectedUrl).toBe(slapd.url);
    } finally {
      await alone.close();
      await withBackup.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a closed directory rejects', async () => {
    const directory = ldap();
    await directory.search('(uid=alice)');
    await directory.close();
    await expect(directory.search('(uid=alice)')).rejects.toBeInstanceOf(DirectoryUnavailableError);
  });
});

describe('LdapDirectory across an outage', () => {
  let own: SlapdServer;

  beforeAll(async () => {
    own = await startSlapd();
  });

  afterAll(async () => {
    await own.resume();
    await own.stop();
  });

  it('stopped: DirectoryUnavailableError within the timeout; after restart the same instance works again', async () => {
    const directory = ldap({ urls: [own.url], bindPassword: own.rootPassword });
    const zimbra = new ZimbraDirectory(directory);
    try {
      expect((await zimbra.findAccount('alice@example.com'))?.id).toBe(ALICE_ID);

      await own.stop();
      const started = Date.now();
      await expect(zimbra.findAccount('alice@example.com')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + TIMEOUT_MS + MARGIN_MS);

      await own.restart();
      await waitFor('lookups after the restart', async () => (await zimbra.findAccount('alice@example.com').catch(() => null))?.id === ALICE_ID);
    } finally {
      await directory.close();
    }
  });

  it('hung (SIGSTOP): DirectoryUnavailableError within the deadline; after SIGCONT it answers again', async () => {
    const directory = ldap({ urls: [own.url], bindPassword: own.rootPassword });
    try {
      expect(await directory.search('(uid=bob)')).toHaveLength(1);

      await own.pause();
      try {
        let started = Date.now();
        // On the open connection: the search deadline.
        await expect(directory.search('(uid=bob)')).rejects.toBeInstanceOf(DirectoryUnavailableError);
        expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
        started = Date.now();
        // On a new connection: the kernel completes the TCP handshake, the bind never answers.
        await expect(directory.search('(uid=bob)')).rejects.toBeInstanceOf(DirectoryUnavailableError);
        expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS + TIMEOUT_MS + MARGIN_MS);
      } finally {
        await own.resume();
      }

      await waitFor('lookups after SIGCONT', async () => (await directory.search('(uid=bob)').catch(() => [])).length === 1);
    } finally {
      await directory.close();
    }
  });
});
