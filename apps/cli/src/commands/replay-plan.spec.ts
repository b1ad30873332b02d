import { describe, expect, it } from 'vitest';
import type { ConfigEvent } from '@postern/contracts';
import { consentFor, differencesBetween, foldEvent, HANDFUL, isEmptyConfig, type Difference, type TargetEntry } from './replay-plan';

const event = (over: Partial<ConfigEvent>): ConfigEvent => ({
  kind: 'change',
  scope: 'global',
  entry: 'global',
  dn: 'cn=config',
  op: 'modify',
  changed: [],
  before: null,
  after: { a: ['1'] },
  csn: 'c',
  time: '2026-12-01T00:00:00Z',
  publishedAt: '2026-12-01T00:00:00Z',
  source: 'accesslog',
  ...over,
});

const modify = (changed: number): Difference => ({
  key: 'global',
  scope: 'global',
  entry: 'global',
  dn: 'cn=config',
  changed: Array.from({ length: changed }, (_, i) => `a${i}`),
  then: {},
  now: {},
});

describe('events replay plan', () => {
  it('rebuilds the config from changes and roll-backs, ignoring rejected changes and accounts', () => {
    const target = new Map<string, TargetEntry>();
    expect(isEmptyConfig(target)).toBe(true);
    foldEvent(target, event({ kind: 'rejected', after: { a: ['bad'] } }));
    foldEvent(target, event({ scope: 'account', entry: 'alice@example.com' }));
    expect(isEmptyConfig(target)).toBe(true);
    foldEvent(target, event({}));
    expect(isEmptyConfig(target)).toBe(false);
    foldEvent(target, event({ op: 'delete', after: null }));
    expect(isEmptyConfig(target)).toBe(true);
  });

  it('lists each entry that differs, an entry that did not exist then included', () => {
    const target = new Map<string, TargetEntry>([['global', { scope: 'global', entry: 'global', dn: 'cn=config', attributes: { a: ['1'] } }]]);
    const current = new Map<string, TargetEntry & { attributes: Record<string, string[]> }>([
      ['global', { scope: 'global', entry: 'global', dn: 'cn=config', attributes: { a: ['2'] } }],
      ['domain.x.test', { scope: 'domain', entry: 'x.test', dn: 'dc=x', attributes: { b: ['1'] } }],
    ]);
    const differences = differencesBetween(target, current);
    expect(differences.map((d) => [d.key, d.changed, d.then])).toEqual([
      ['domain.x.test', ['b'], null],
      ['global', ['a'], { a: ['1'] }],
    ]);
  });

  it('goes ahead with --yes; asks on a terminal about a small roll-back; needs --yes for a large one or without a terminal', () => {
    expect(consentFor([modify(1)], { yes: true, terminal: false })).toBe('go');
    expect(consentFor([], { yes: false, terminal: false })).toBe('go');
    expect(consentFor([modify(1)], { yes: false, terminal: false })).toBe('no-terminal');
    expect(consentFor([modify(HANDFUL)], { yes: false, terminal: true })).toBe('ask');
    expect(consentFor([modify(HANDFUL + 1)], { yes: false, terminal: true })).toBe('needs-yes');
    expect(consentFor([{ ...modify(1), then: null }], { yes: false, terminal: true })).toBe('needs-yes');
  });
});
