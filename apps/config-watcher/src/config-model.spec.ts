import { describe, expect, it } from 'vitest';
import { changedAttributes, ConfigModel, entryNameOf, publishedAttributes, scopeOf } from './config-model';
import { csnTime, formatGeneralizedTime, parseGeneralizedTime, parseReqOld } from './directory-change';
import { invalidationOf, invalidationReason } from './route-invalidator';

describe('config entries', () => {
  it('classifies an entry by its object classes and names it', () => {
    expect(scopeOf({ objectClass: ['zimbraGlobalConfig'] })).toBe('global');
    expect(scopeOf({ objectClass: ['top', 'zimbraServer'] })).toBe('server');
    expect(scopeOf({ objectclass: ['domain', 'ZIMBRADOMAIN'] })).toBe('domain');
    expect(scopeOf({ objectClass: ['inetOrgPerson', 'zimbraAccount'] })).toBe('account');
    expect(scopeOf({ objectClass: ['organizationalUnit'] })).toBeUndefined();
    expect(entryNameOf('server', 'cn=mbox1,cn=servers', { cn: ['mbox1'], zimbraServiceHostname: ['MBOX1.example.com'] })).toBe('mbox1.example.com');
    expect(entryNameOf('domain', 'dc=x', { zimbraDomainName: ['Example.COM'] })).toBe('example.com');
    expect(entryNameOf('account', 'uid=a', { zimbraMailDeliveryAddress: ['Alice@Example.com'] })).toBe('alice@example.com');
  });

  it('publishes no secret: passwords dropped, private keys as their digest, operational attributes left out', () => {
    const published = publishedAttributes('domain', {
      zimbraDomainName: ['example.com'],
      zimbraSSLPrivateKey: ['-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'],
      userPassword: ['secret'],
      entryCSN: ['20261201031022.284396Z#000000#000#000000'],
      modifyTimestamp: ['20261201031022Z'],
    });
    expect(Object.keys(published)).toEqual(['zimbraDomainName', 'zimbraSSLPrivateKey']);
    expect(published.zimbraSSLPrivateKey![0]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('keeps only what routes an account', () => {
    const published = publishedAttributes('account', {
      uid: ['alice'],
      cn: ['Alice'],
      zimbraId: ['id-1'],
      zimbraMailDeliveryAddress: ['alice@example.com'],
      zimbraMailAlias: ['al@example.com'],
      zimbraMailHost: ['mbox1'],
      zimbraAccountStatus: ['active'],
      zimbraExternalImapHostname: ['imap.elsewhere'],
      userPassword: ['secret'],
    });
    expect(Object.keys(published)).toEqual([
      'zimbraAccountStatus',
      'zimbraExternalImapHostname',
      'zimbraId',
      'zimbraMailAlias',
      'zimbraMailDeliveryAddress',
      'zimbraMailHost',
    ]);
    expect(Object.keys(publishedAttributes('account', { mailHost: ['m2'], zimbraMailHost: ['m1'] }, 'mailHost'))).toEqual(['mailHost']);
  });

  it('names the attributes that differ, whatever their case', () => {
    expect(changedAttributes({ a: ['1'], b: ['2'] }, { A: ['1'], b: ['3'], c: ['4'] })).toEqual(['b', 'c']);
    expect(changedAttributes(null, { a: ['1'] })).toEqual(['a']);
    expect(changedAttributes({ a: ['1'] }, null)).toEqual(['a']);
    expect(changedAttributes({ a: ['1', '2'] }, { a: ['2', '1'] })).toEqual(['a']);
  });

  it('finds an entry by DN after a rename, and forgets the old DN', () => {
    const model = new ConfigModel();
    const entry = { scope: 'domain' as const, entry: 'x.test', dn: 'dc=x,ou=domains', attributes: {}, sequence: 1, csn: 'c', time: '' };
    model.set('domain.x.test', entry);
    expect(model.byDn('DC=x, OU=domains')?.key).toBe('domain.x.test');
    model.set('domain.x.test', { ...entry, dn: 'dc=y,ou=domains' });
    expect(model.byDn('dc=x,ou=domains')).toBeUndefined();
    expect(model.byDn('dc=y,ou=domains')?.entry.dn).toBe('dc=y,ou=domains');
  });
});

describe('directory times and accesslog values', () => {
  it('reads and writes generalized time, and the time of a CSN', () => {
    expect(parseGeneralizedTime('20261201031022.000002Z').toISOString()).toBe('2026-12-01T03:10:22.000Z');
    expect(formatGeneralizedTime(new Date('2026-12-01T03:10:22.123Z'), 7)).toBe('20261201031022.000007Z');
    expect(csnTime('20261201031022.284396Z#000000#000#000000')?.toISOString()).toBe('2026-12-01T03:10:22.284Z');
    expect(csnTime('nonsense')).toBeUndefined();
    expect(() => parseGeneralizedTime('yesterday')).toThrow(/generalized time/);
  });

  it("reads reqOld's values, leaving out operational attributes", () => {
    expect(parseReqOld(['zimbraMailHost: 127.0.0.2', 'entryCSN: x', 'zimbraMailAlias: a@x', 'zimbraMailAlias: b@x', 'cn:  two spaces'])).toEqual({
      zimbraMailHost: ['127.0.0.2'],
      zimbraMailAlias: ['a@x', 'b@x'],
      cn: [' two spaces'],
    });
  });
});

describe('route invalidation', () => {
  const alice = { zimbraId: ['id-1'], zimbraMailDeliveryAddress: ['alice@example.com'], zimbraMailAlias: ['al@example.com'], zimbraMailHost: ['m1'] };
  it('says why routes go, and keeps them when nothing that routes changed', () => {
    expect(invalidationReason(alice, { ...alice, zimbraMailHost: ['m2'] }, ['zimbraMailHost'])).toBe('moved');
    expect(invalidationReason(alice, { ...alice, zimbraAccountStatus: ['closed'] }, ['zimbraAccountStatus'])).toBe('status');
    expect(invalidationReason(alice, { ...alice, zimbraMailAlias: [] }, ['zimbraMailAlias'])).toBe('alias');
    expect(invalidationReason(alice, { ...alice, zimbraMailDeliveryAddress: ['a2@example.com'] }, ['zimbraMailDeliveryAddress'])).toBe('renamed');
    expect(invalidationReason(alice, null, [])).toBe('deleted');
    expect(invalidationReason(null, alice, [])).toBe('changed');
    expect(invalidationReason(alice, alice, [])).toBeUndefined();
  });

  it('covers every name and alias the account had and has', () => {
    const renamed = { ...alice, zimbraMailDeliveryAddress: ['Alice2@example.com'], zimbraMailAlias: ['new@example.com'], zimbraAccountStatus: ['locked'] };
    expect(invalidationOf(alice, renamed, 'renamed')).toEqual({
      accountNames: ['alice@example.com', 'alice2@example.com'],
      accountId: 'id-1',
      logins: ['alice@example.com', 'alice2@example.com', 'al@example.com', 'new@example.com'],
      reason: 'renamed',
      status: 'locked',
    });
    expect(invalidationOf(alice, null, 'deleted')).not.toHaveProperty('status');
  });
});
