import { createServer } from 'node:net';
import { EqualityFilter, SubstringFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { DirectoryConfigError, DirectoryQueryError, DirectoryUnavailableError } from './errors';
import { parseFilter } from './filter';
import { LdapDirectory, toLdaptsFilter } from './ldap-backend';

/** A loopback port with nothing listening (connection refused). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 1;
}

describe('LdapDirectory configuration', () => {
  it.each([
    [{ urls: [] }],
    [{ urls: ['http://127.0.0.1:389'] }],
    [{ urls: ['not a url'] }],
    [{ urls: ['ldap://127.0.0.1:389'], timeoutMs: 0 }],
    [{ urls: ['ldap://127.0.0.1:389'], connectTimeoutMs: -1 }],
    [{ urls: ['ldap://127.0.0.1:389'], retryIntervalMs: Number.NaN }],
  ])('rejects %j', (options) => {
    expect(() => new LdapDirectory({ baseDn: 'dc=test', ...options })).toThrow(DirectoryConfigError);
  });
});

describe('LdapDirectory without a server', () => {
  it('refused on every URL → DirectoryUnavailableError naming the URLs, with the causes', async () => {
    const urls = [`ldap://127.0.0.1:${await deadPort()}`, `ldap://127.0.0.1:${await deadPort()}`];
    const directory = new LdapDirectory({ urls, baseDn: 'dc=test', connectTimeoutMs: 500, timeoutMs: 500 });
    const error = await directory.search('(uid=alice)').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DirectoryUnavailableError);
    expect((error as Error).message).toContain(urls[0]);
    expect((error as Error).message).toContain(urls[1]);
    expect((error as Error).cause).toBeInstanceOf(AggregateError);
    await directory.close();
  });

  it('a malformed filter is a DirectoryQueryError before any connection attempt', async () => {
    const directory = new LdapDirectory({ urls: [`ldap://127.0.0.1:${await deadPort()}`], baseDn: 'dc=test' });
    await expect(directory.search('(uid=alice')).rejects.toBeInstanceOf(DirectoryQueryError);
    await directory.close();
  });
});

describe('toLdaptsFilter', () => {
  it('keeps decoded UTF-8 values (ldapts would map each escaped byte to its own character)', () => {
    const filter = toLdaptsFilter(parseFilter('(cn=\\c3\\a9)'));
    expect(filter).toBeInstanceOf(EqualityFilter);
    expect((filter as EqualityFilter).value).toBe('é');
  });

  it('converts every filter kind', () => {
    const filter = toLdaptsFilter(parseFilter('(&(a=1)(|(b=*)(!(c>=2)))(d<=3)(e~=4)(f=x*y*z))'));
    expect(filter.toString()).toBe('(&(a=1)(|(b=*)(!(c>=2)))(d<=3)(e~=4)(f=x*y*z))');
    const substring = toLdaptsFilter(parseFilter('(f=*y*)'));
    expect(substring).toBeInstanceOf(SubstringFilter);
    expect(substring).toMatchObject({ initial: '', any: ['y'], final: '' });
  });
});
