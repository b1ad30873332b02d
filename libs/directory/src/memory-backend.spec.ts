import { describe, expect, it } from 'vitest';
import { DirectoryQueryError, DirectoryUnavailableError } from './errors';
import { LdifDirectory } from './memory-backend';
import { DIRECTORY_FIXTURE_PATH } from './paths';

const directory = LdifDirectory.fromFile(DIRECTORY_FIXTURE_PATH, { baseDn: 'dc=postern,dc=test' });
const dns = async (filter: string, options = {}) => (await directory.search(filter, options)).map((e) => e.dn);

describe('LdifDirectory', () => {
  it('finds by equality, case-insensitively in names and values', async () => {
    expect(await dns('(ZIMBRAmailALIAS=AL@EXAMPLE.COM)')).toEqual(['uid=alice,ou=people,dc=example.com,ou=domains,dc=postern,dc=test']);
  });

  it('evaluates and/or/not, presence and substrings', async () => {
    expect(await dns('(&(objectClass=zimbraServer)(!(zimbraPop3SSLBindPort=*)))')).toEqual([
      'cn=mbox2,cn=servers,cn=zimbra,dc=postern,dc=test',
      'cn=proxy1,cn=servers,cn=zimbra,dc=postern,dc=test',
    ]);
    expect(await dns('(|(zimbraAccountStatus=closed)(zimbraAccountStatus=locked))')).toHaveLength(2);
    expect(await dns('(zimbraMailDeliveryAddress=*@example.org)')).toEqual(['uid=carol,ou=people,dc=example.org,ou=domains,dc=postern,dc=test']);
  });

  it('restricts to the base (suffix match, spaces and case ignored)', async () => {
    expect(await dns('(objectClass=zimbraAccount)', { base: 'OU=People, DC=example.org ,ou=domains,dc=postern,dc=test' })).toEqual([
      'uid=carol,ou=people,dc=example.org,ou=domains,dc=postern,dc=test',
    ]);
    // A suffix of the RDN value is not a parent.
    expect(await dns('(objectClass=*)', { base: 'le.org,ou=domains,dc=postern,dc=test' })).toEqual([]);
    expect(await dns('(objectClass=*)', { base: 'dc=elsewhere' })).toEqual([]);
    expect(await dns('(objectClass=organizationalRole)', { base: '' })).toHaveLength(2);
  });

  it('includes the base entry itself (subtree scope)', async () => {
    expect(await dns('(objectClass=*)', { base: 'cn=mbox1,cn=servers,cn=zimbra,dc=postern,dc=test' })).toEqual([
      'cn=mbox1,cn=servers,cn=zimbra,dc=postern,dc=test',
    ]);
  });

  it('selects attributes case-insensitively and honours the size limit', async () => {
    const [entry, ...rest] = await directory.search('(objectClass=zimbraAccount)', { attributes: ['ZIMBRAMAILHOST', 'uid'], sizeLimit: 1 });
    expect(rest).toEqual([]);
    expect(entry?.attributes).toEqual({ uid: ['alice'], zimbraMailHost: ['127.0.0.2'] });
    const [none] = await directory.search('(uid=alice)', { attributes: ['1.1'] });
    expect(none?.attributes).toEqual({});
    expect(await dns('(objectClass=zimbraAccount)', { sizeLimit: 0 })).toHaveLength(7);
  });

  it('returns copies: callers cannot change the directory', async () => {
    const [entry] = await directory.search('(uid=alice)');
    (entry?.attributes['uid'] as string[]).push('mallory');
    const [again] = await directory.search('(uid=alice)');
    expect(again?.attributes['uid']).toEqual(['alice']);
  });

  it('rejects a malformed filter with DirectoryQueryError', async () => {
    await expect(directory.search('(uid=alice')).rejects.toBeInstanceOf(DirectoryQueryError);
  });

  it('rejects with DirectoryUnavailableError once closed', async () => {
    const closing = LdifDirectory.fromString('dn: cn=a\ncn: a\n');
    await closing.close();
    await expect(closing.search('(cn=a)')).rejects.toBeInstanceOf(DirectoryUnavailableError);
  });
});
