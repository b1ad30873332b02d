/**
 * `postern config check`: the directory as it holds the config now, read only, validated with the
 * config watcher's own rules (`validateEntry`: every setting's type and range, global config under
 * every server entry, the seed's mail-mode table for every lookup target, each domain's
 * certificate against its key). Each refused value is named with the `rejected` event that
 * refused it when the history has one; values a roll-back pinned are listed. Exit 1 when anything
 * is refused, as `zmtlsctl`.
 */
import { validateEntry, type AttributeValues } from '@postern/config';
import { configKey } from '@postern/contracts';
import { attr, type DirectoryEntry } from '@postern/directory';
import { isMalformed } from '@postern/config-store';
import { fromDirectory, ExitCode, type CliContext } from '../context';
import { printJson, printTable } from '../output';
import { pinnedValues } from './watcher-state';

type Scope = 'global' | 'server' | 'domain';

const FILTERS: readonly [Scope, string][] = [
  ['global', '(objectClass=zimbraGlobalConfig)'],
  ['server', '(objectClass=zimbraServer)'],
  ['domain', '(objectClass=zimbraDomain)'],
];

interface Checked {
  readonly scope: Scope;
  readonly name: string;
  readonly attributes: AttributeValues;
}

function nameOf(scope: Scope, entry: DirectoryEntry): string {
  if (scope === 'global') return 'global';
  const name =
    scope === 'server' ? (attr(entry.attributes, 'zimbraServiceHostname') ?? attr(entry.attributes, 'cn')) : attr(entry.attributes, 'zimbraDomainName');
  return (name ?? entry.dn).toLowerCase();
}

/** The newest `rejected` event of each entry, by config key, with its reason. */
async function refusals(context: CliContext): Promise<Map<string, { sequence: number; reason: string }[]>> {
  const out = new Map<string, { sequence: number; reason: string }[]>();
  for await (const stored of (await context.configStore()).events({ sequence: 1 })) {
    if (isMalformed(stored) || stored.event.kind !== 'rejected' || stored.event.scope === 'account') continue;
    const key = configKey(stored.event.scope, stored.event.entry);
    out.set(key, [{ sequence: stored.sequence, reason: stored.event.reason ?? '' }, ...(out.get(key) ?? [])]);
  }
  return out;
}

export async function configCheck(context: CliContext, options: { json?: boolean }): Promise<void> {
  const backend = context.directoryBackend();
  const entries: Checked[] = [];
  for (const [scope, filter] of FILTERS) {
    const found = await fromDirectory(context, () => backend.search(filter, { attributes: ['*'] }));
    for (const entry of found) entries.push({ scope, name: nameOf(scope, entry), attributes: entry.attributes });
  }
  const global = entries.find((e) => e.scope === 'global')?.attributes ?? {};
  const refused = await refusals(context);
  const results = entries.map((entry) => {
    const servers = new Map(entries.filter((e) => e.scope === 'server' && e !== entry).map((e) => [e.name, e.attributes]));
    const problems = validateEntry(entry.scope, entry.name, entry.attributes, { global, servers });
    const label = entry.scope === 'global' ? 'global' : `${entry.scope} ${entry.name}`;
    return {
      entry: label,
      problems: problems.map((problem) => {
        const event = refused.get(configKey(entry.scope, entry.name))?.find((r) => r.reason.includes(problem));
        return { problem, refusedBy: event?.sequence ?? null };
      }),
    };
  });
  const pinned = await pinnedValues(context);
  const failed = results.filter((r) => r.problems.length > 0);
  if (options.json) printJson({ ok: failed.length === 0, results, pinned });
  else {
    printTable(
      ['ENTRY', 'RESULT'],
      results.map((r) => [
        r.entry,
        r.problems.length === 0
          ? 'ok'
          : r.problems.map((p) => `refused: ${p.problem}${p.refusedBy === null ? ' (no event refused it yet)' : ` (event ${p.refusedBy})`}`).join('; '),
      ]),
    );
    if (pinned.length > 0) {
      process.stdout.write("\npinned by a roll-back: the running config holds these instead of the directory's values until the directory changes them\n");
      printTable(
        ['ENTRY', 'ATTRIBUTE', 'HELD', 'DIRECTORY'],
        pinned.map((p) => [p.key, p.attribute, JSON.stringify(p.held), JSON.stringify(p.directory)]),
      );
    }
  }
  if (failed.length > 0) process.exitCode = ExitCode.failed;
}
