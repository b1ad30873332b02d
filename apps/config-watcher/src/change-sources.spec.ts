import { describe, expect, it } from 'vitest';
import type { DirectoryEntry } from '@postern/directory';
import { diffEntries } from './change-sources';

const entry = (dn: string, attributes: Record<string, string[]>): [string, DirectoryEntry] => [dn.toLowerCase(), { dn, attributes }];
const time = new Date('2026-12-01T00:00:00Z');

describe('diffEntries (the LDIF file source)', () => {
  it('turns two reads of the file into adds, modifies, deletes and renames', () => {
    const before = new Map([
      entry('uid=a,dc=x', { zimbraId: ['1'], zimbraMailHost: ['m1'] }),
      entry('uid=b,dc=x', { zimbraId: ['2'] }),
      entry('uid=c,dc=x', { zimbraId: ['3'] }),
      entry('cn=same,dc=x', { cn: ['same'] }),
    ]);
    const after = new Map([
      entry('uid=a,dc=x', { zimbraId: ['1'], zimbraMailHost: ['m2'] }),
      entry('uid=b2,dc=x', { zimbraId: ['2'] }),
      entry('uid=d,dc=x', { zimbraId: ['4'] }),
      entry('cn=same,dc=x', { cn: ['same'] }),
    ]);
    const changes = diffEntries(before, after, time, 'ldif:new');
    const summary = changes.map((c) => [c.op, c.dn, c.newDn ?? '']);
    expect(summary).toEqual([
      ['modify', 'uid=a,dc=x', ''],
      ['rename', 'uid=b,dc=x', 'uid=b2,dc=x'],
      ['add', 'uid=d,dc=x', ''],
      ['delete', 'uid=c,dc=x', ''],
    ]);
    expect(changes[0]!.old).toEqual({ zimbraId: ['1'], zimbraMailHost: ['m1'] });
    expect(changes.every((c) => c.position === 'ldif:new' && c.time === time)).toBe(true);
    // The same change has the same CSN wherever it is computed: two watchers of one file publish it once.
    expect(diffEntries(before, after, time, 'ldif:new').map((c) => c.csn)).toEqual(changes.map((c) => c.csn));
    expect(new Set(changes.map((c) => c.csn)).size).toBe(changes.length);
  });
});
