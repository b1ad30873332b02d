/**
 * docs/settings.md is generated from the settings registry: it must say what the registry says,
 * setting for setting. On a failure, run `npm run docs:settings` and commit the file.
 */
import { Settings } from '@postern/config';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS_DOC, renderSettingsDoc } from '../docs/settings-doc';

describe('docs/settings.md', () => {
  it('is what the registry generates (npm run docs:settings)', async () => {
    expect(readFileSync(SETTINGS_DOC, 'utf8')).toBe(await renderSettingsDoc());
  });

  it('has a row for every setting of the registry', async () => {
    const text = await renderSettingsDoc();
    const rows = text.split('\n').filter((line) => line.startsWith('| `'));
    const names = rows.map((row) => /^\| `(\w+)`/.exec(row)?.[1]);
    expect(names.sort()).toEqual(
      Object.values(Settings)
        .map((def) => def.attribute)
        .sort(),
    );
  });
});
