import { describe, expect, it } from 'vitest';
import type { PinnedEntry } from '@postern/contracts';
import { applyPin, pinFor } from './config-pins';

const what = { scope: 'global' as const, entry: 'global', dn: 'cn=config', sequence: 7, time: '2026-12-01T00:00:00.000Z' };

describe('roll-back pins', () => {
  it('pins only the values that differ from the directory, and none when the target is what the directory has', () => {
    const now = { a: ['2'], b: ['2'], c: ['1'] };
    const pin = pinFor({ a: ['1'], c: ['1'] }, now, undefined, what);
    expect(pin).toMatchObject({ directory: now, held: { a: ['1'], b: null } });
    expect(pinFor(now, now, undefined, what)).toBeUndefined();
  });

  it('holds pinned values over a later unrelated write, and lets one go when the directory changes it', () => {
    const pin = pinFor({ a: ['1'], b: ['1'] }, { a: ['2'], b: ['2'] }, undefined, what)!;
    const unrelated = applyPin({ a: ['2'], b: ['2'], c: ['new'] }, pin, ['c']);
    expect(unrelated.effective).toEqual({ a: ['1'], b: ['1'], c: ['new'] });
    expect(unrelated.released).toEqual([]);
    const changedA = applyPin({ a: ['3'], b: ['2'], c: ['new'] }, unrelated.pin, ['a']);
    expect(changedA.effective).toEqual({ a: ['3'], b: ['1'], c: ['new'] });
    expect(changedA.released).toEqual(['a']);
    expect(Object.keys(changedA.pin!.held)).toEqual(['b']);
  });

  it('lets a value go when a logged write names it, even with the same value, and drops an empty pin', () => {
    const pin = pinFor({ a: ['1'] }, { a: ['2'] }, undefined, what)!;
    const rewritten = applyPin({ a: ['2'] }, pin, ['A']);
    expect(rewritten).toEqual({ effective: { a: ['2'] }, pin: undefined, released: ['a'] });
  });

  it('keeps a removed entry removed, and a re-created one present, until the directory adds or deletes it', () => {
    const removed = pinFor(null, { a: ['1'] }, undefined, what)!;
    expect(removed.exists).toBe(false);
    expect(applyPin({ a: ['1'], b: ['x'] }, removed).effective).toBeNull();
    expect(applyPin(null, removed)).toMatchObject({ effective: null, pin: undefined });

    const kept = pinFor({ a: ['1'] }, null, undefined, what)!;
    expect(kept).toMatchObject({ exists: true, directory: null });
    expect(applyPin(null, kept).effective).toEqual({ a: ['1'] });
    expect(applyPin({ a: ['9'] }, kept)).toMatchObject({ effective: { a: ['9'] }, pin: undefined });
  });

  it('a second roll-back of a pinned entry is measured against the directory, not against the first roll-back', () => {
    const first = pinFor({ a: ['1'] }, { a: ['2'] }, undefined, what)!;
    // Rolled back again to what the directory has: the pin goes.
    expect(pinFor({ a: ['2'] }, { a: ['1'] }, first, what)).toBeUndefined();
    const again: PinnedEntry | undefined = pinFor({ a: ['0'] }, { a: ['1'] }, first, what);
    expect(again?.held).toEqual({ a: ['0'] });
    expect(again?.directory).toEqual({ a: ['2'] });
  });
});
