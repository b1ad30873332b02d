import { describe, expect, it } from 'vitest';
import type { DirectoryBackend } from './directory';
import { DirectoryConfigError, DirectoryQueryError, DirectoryUnavailableError } from './errors';
import { LdifDirectory } from './memory-backend';
import { DIRECTORY_FIXTURE_PATH } from './paths';
import { attr, attrs, DEFAULT_ZIMBRA_QUERIES, ZimbraDirectory } from './zimbra-directory';

const backend = LdifDirectory.fromFile(DIRECTORY_FIXTURE_PATH, { baseDn: 'dc=postern,dc=test' });

describe('ZimbraDirectory (over the LDIF fixture)', () => {
  const zimbra = new ZimbraDirectory(backend);

  it('maps an account', async () => {
    expect(await zimbra.findAccount('alice.smith@example.com')).toMatchObject({
      dn: 'uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test',
      id: 'c3a1f7e2-2b4d-4f6a-9e8c-1d3b5a7c9e01',
      name: 'alice@example.com',
      aliases: ['alice.smith@example.com', 'al@example.com'],
      mailHost: '127.0.0.2',
      status: 'active',
    });
    expect((await zimbra.findAccount('alice@example.com'))?.userName).toBeUndefined();
  });

  it('reads the status as stored', async () => {
    expect((await zimbra.findAccount('frank@example.com'))?.status).toBe('closed');
    expect((await zimbra.findAccount('grace@example.com'))?.status).toBe('locked');
  });

  it('uses the configured mail-host and user-name attributes and search base', async () => {
    const custom = new ZimbraDirectory(backend, {
      mailHostAttribute: 'uid',
      userNameAttribute: 'cn',
      mailHostSearchBase: 'dc=example.org,ou=domains,dc=postern,dc=test',
    });
    expect(await custom.findAccount('alice@example.com')).toBeNull();
    expect(await custom.findAccount('carol@example.org')).toMatchObject({ mailHost: 'carol', userName: 'Carol White' });
  });

  it('undefined options keep the defaults', () => {
    expect(new ZimbraDirectory(backend, { mailHostQuery: undefined }).queries).toEqual(DEFAULT_ZIMBRA_QUERIES);
  });

  it('empty inputs find nothing without asking the directory', async () => {
    const never: DirectoryBackend = { search: () => Promise.reject(new Error('must not be called')), close: async () => undefined };
    const z = new ZimbraDirectory(never);
    expect(await z.findAccount('')).toBeNull();
    expect(await z.findDomainByVirtualIp('')).toBeNull();
    expect(await z.findServer('')).toBeNull();
  });

  it('lists servers and reads the global config', async () => {
    expect((await zimbra.listServers()).map((s) => s.name)).toEqual(['mbox1', 'mbox2', 'proxy1']);
    expect(attr(await zimbra.globalConfig(), 'zimbradefaultdomainname')).toBe('example.com');
  });

  it('global config of a directory without one is empty', async () => {
    expect(await new ZimbraDirectory(LdifDirectory.fromString('dn: cn=a\ncn: a\n')).globalConfig()).toEqual({});
  });
});

describe('ZimbraDirectory configuration', () => {
  it.each([
    [{ mailHostQuery: '(zimbraMailDeliveryAddress=${USER}' }],
    [{ mailHostQuery: '(zimbraMailDeliveryAddress=${MAILHOST})' }],
    [{ portQuery: '(zimbraServiceHostname=${USER})' }],
    [{ domainNameQuery: '(zimbraVirtualIPAddress=${IPADDR})(x=y)' }],
  ])('rejects a bad template at construction: %j', (queries) => {
    expect(() => new ZimbraDirectory(backend, queries)).toThrow(DirectoryConfigError);
  });

  it('accepts templates that do not use their variable', () => {
    expect(() => new ZimbraDirectory(backend, { portQuery: '(objectClass=zimbraServer)' })).not.toThrow();
  });
});

describe('ZimbraDirectory errors', () => {
  it('wraps unknown backend failures as DirectoryUnavailableError, with the cause', async () => {
    const cause = new Error('socket hang up');
    const broken: DirectoryBackend = { search: () => Promise.reject(cause), close: async () => undefined };
    const error = await new ZimbraDirectory(broken).findAccount('alice@example.com').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DirectoryUnavailableError);
    expect((error as DirectoryUnavailableError).cause).toBe(cause);
    expect((error as DirectoryUnavailableError).code).toBe('DIRECTORY_UNAVAILABLE');
  });

  it('passes typed errors through unchanged', async () => {
    const query = new DirectoryQueryError('bad', '(x');
    const broken: DirectoryBackend = { search: () => Promise.reject(query), close: async () => undefined };
    await expect(new ZimbraDirectory(broken).findServer('x')).rejects.toBe(query);
  });
});

describe('attr / attrs', () => {
  const attributes = { ObjectClass: ['a', 'b'], cn: ['x'] };
  it('compare names case-insensitively', () => {
    expect(attr(attributes, 'objectclass')).toBe('a');
    expect(attrs(attributes, 'OBJECTCLASS')).toEqual(['a', 'b']);
    expect(attr(attributes, 'sn')).toBeUndefined();
    expect(attrs(attributes, 'sn')).toEqual([]);
  });
});
