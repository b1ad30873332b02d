/**
 * Writes docs/settings.md from the settings registry (libs/config/src/settings.ts and the groups
 * it spreads in), so the reference an operator reads cannot say other than the code does.
 * Usage: npm run docs:settings (`--check` exits 1 when the file differs from the registry instead).
 *
 * For each setting: its attribute name, type, default, whether a running service picks up a change
 * (hot), where it may be set (scope) and its meaning (the entry's description). Settings are grouped
 * by the registry's own sections (its `// --- Title ---` comments). Which services read a setting is
 * left out: settings reach the services through shared libraries (route and throttle clients,
 * service-kit) and one effective-settings object, so no reliable list can be derived from the code.
 *
 * It lives in the tests project (not scripts/, which belongs to no Nx project) so that its drift
 * test, test/lint/settings-doc.test.ts, may import it within the module boundaries.
 */
import { Settings, type SettingDefinition } from '@postern/config';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { format, resolveConfig } from 'prettier';

const root = join(__dirname, '..', '..');
export const SETTINGS_DOC = join(root, 'docs', 'settings.md');
const REGISTRY = join(root, 'libs', 'config', 'src', 'settings.ts');

const SECTION = /^\s*\/\/ --- (.+?) -+\s*$/;
const ENTRY = /^\s{2}(\w+): \w+Setting\(/;
const SPREAD = /^\s{2}\.\.\.(\w+),/;

/** Each setting's section, read from the registry's source: its entries, and the files it spreads in. */
function sections(): Map<string, string> {
  const text = readFileSync(REGISTRY, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from '(\.\/[\w-]+)';$/gm)) imports.set(m[1]!, join(dirname(REGISTRY), `${m[2]!}.ts`));
  const bySetting = new Map<string, string>();
  let section = 'Other';
  for (const line of text.split('\n')) {
    const heading = SECTION.exec(line);
    if (heading) section = heading[1]!;
    const entry = ENTRY.exec(line);
    if (entry) bySetting.set(entry[1]!, section);
    const spread = SPREAD.exec(line);
    const file = spread ? imports.get(spread[1]!) : undefined;
    if (file) for (const l of readFileSync(file, 'utf8').split('\n')) if (ENTRY.test(l)) bySetting.set(ENTRY.exec(l)![1]!, section);
  }
  return bySetting;
}

function typeOf(def: SettingDefinition<unknown>): string {
  if (def.defaultText !== undefined) return 'duration';
  if (typeof def.default === 'boolean') return 'boolean';
  if (Array.isArray(def.default)) return def.accepted.replace(/^a /, '');
  if (def.accepted.startsWith('an integer from ')) return def.accepted.replace(/^an integer from (\d+) to (\d+)$/, 'integer, $1–$2');
  if (def.accepted.startsWith('one of ')) return def.accepted;
  return 'text';
}

function defaultOf(def: SettingDefinition<unknown>): string {
  const value = def.default;
  if (def.defaultText !== undefined) return code(def.defaultText);
  if (typeof value === 'boolean') return code(value ? 'TRUE' : 'FALSE');
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map((v) => code(String(v))).join(', ');
  if (value === '') return '(empty)';
  return code(String(value));
}

function code(text: string): string {
  return `\`${text}\``;
}

/** A table cell: pipes escaped (GitHub reads `\|` as a pipe, inside code spans too), no line breaks. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The Markdown of docs/settings.md, formatted as Prettier writes it. */
export async function renderSettingsDoc(): Promise<string> {
  const sectionOf = sections();
  const groups = new Map<string, SettingDefinition<unknown>[]>();
  for (const [name, def] of Object.entries(Settings) as [string, SettingDefinition<unknown>][]) {
    const section = sectionOf.get(name) ?? 'Other';
    groups.set(section, [...(groups.get(section) ?? []), def]);
  }
  const lines = [
    '<!-- Generated from libs/config/src/settings.ts by test/docs/settings-doc.ts (npm run docs:settings): edit the registry, not this file. -->',
    '',
    '# Settings',
    '',
    'Every directory setting Postern reads, by its attribute name: `zimbra…` names are Zimbra’s attributes with Zimbra’s defaults',
    '(unless the registry says why Postern differs), `postern…` names are Postern’s own. A value is read from the global config,',
    'then this node’s server entry, then the `attributes` of the node’s config file (each overriding the one before); see',
    '[the configuration page](configuration.md). An invalid value stops a service at boot, and is refused by the config watcher',
    'before it is published, with a message naming the attribute and what it accepts.',
    '',
    '- **hot**: a running service applies a change (from the config watcher, or on SIGHUP) without a restart.',
    '- **scope**: where the setting may be set: `global` (the global config), `server` (a server entry), `global+server` (either;',
    '  the server’s value wins), `domain` (a domain entry).',
    '- Durations are written `500ms`, `10s`, `5m`, `1h` or `1d`; a bare number is seconds.',
    '',
    'Which services read each setting is not listed: settings reach the services through shared libraries and one',
    'effective-settings object, so no reliable list can be derived from the code. The part of the registry a setting belongs',
    'to (the headings below) says which part of Postern it is about.',
    '',
  ];
  for (const [section, defs] of groups) {
    lines.push(`## ${section}`, '', '| setting | type | default | hot | scope | meaning |', '| --- | --- | --- | --- | --- | --- |');
    for (const def of defs) {
      const row = [code(def.attribute), typeOf(def), defaultOf(def), def.hot ? 'yes' : 'no', def.scope, def.description];
      lines.push(`| ${row.map(cell).join(' | ')} |`);
    }
    lines.push('');
  }
  const options = (await resolveConfig(SETTINGS_DOC)) ?? {};
  return format(lines.join('\n'), { ...options, filepath: SETTINGS_DOC });
}

async function main(): Promise<void> {
  const text = await renderSettingsDoc();
  if (process.argv.includes('--check')) {
    if (readFileSync(SETTINGS_DOC, 'utf8') !== text) {
      console.error('docs/settings.md differs from the settings registry: run npm run docs:settings');
      process.exit(1);
    }
    return;
  }
  writeFileSync(SETTINGS_DOC, text);
  console.log('wrote docs/settings.md');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === __filename) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
