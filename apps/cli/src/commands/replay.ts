/**
 * `postern events replay --to SEQ|TIME [--apply] [--yes]`: the config as it stood at a sequence
 * or a time, against now; with `--apply`, a roll-back to it.
 *
 * Nothing can wipe the config by accident: a target before the first event the stream holds, or
 * one where no global config, server or domain existed yet, is refused (exit 64) with the first
 * sequence and time there are. An `--apply` prints the differences first; on a terminal it asks
 * (a roll-back that removes entries or changes more than a handful of values needs `--yes` even
 * there), and without a terminal it needs `--yes`: otherwise nothing is changed.
 *
 * A roll-back publishes one `rollback` event per entry that differs and sets the entry in the
 * bucket, and pins the restored values (bucket `postern-watcher`) so that the watcher keeps them
 * over later unrelated writes to the same entry, until the directory changes them explicitly.
 * The directory itself is not written.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { ConfigBucket, type ConfigEntry, type ConfigEvent } from '@postern/contracts';
import { isMalformed, pinFor, type ConfigStore } from '@postern/config-store';
import { CliError, ExitCode, type CliContext } from '../context';
import { parseTime, printJson, printTable, progress, progressDone } from '../output';
import { openWatcherState } from './watcher-state';
import { consentFor, differencesBetween, foldEvent, HANDFUL, isEmptyConfig, positiveInteger, type Difference, type TargetEntry } from './replay-plan';

export interface ReplayOptions {
  readonly to: string;
  readonly apply?: boolean;
  readonly yes?: boolean;
  readonly json?: boolean;
}

/** The config at the target: for each entry, the last change or roll-back up to there. */
async function rebuild(store: ConfigStore, until: { sequence?: number; time?: Date }, last: number) {
  const target = new Map<string, TargetEntry>();
  let reached = 0;
  let read = 0;
  for await (const stored of store.events({ sequence: 1 })) {
    if (++read % 500 === 0) progress(`reading events: ${read} of ${last}`);
    if (isMalformed(stored)) continue;
    const e: ConfigEvent = stored.event;
    if (until.sequence !== undefined ? stored.sequence > until.sequence : Date.parse(e.publishedAt) > until.time!.getTime()) break;
    reached = stored.sequence;
    foldEvent(target, e);
  }
  if (read >= 500) progressDone(`read ${read} events`);
  return { target, reached };
}

async function confirmed(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

function printDifferences(reached: number, differences: readonly Difference[]): void {
  process.stdout.write(
    `config at sequence ${reached} against now (${ConfigBucket.name}): ${differences.length} entr${differences.length === 1 ? 'y differs' : 'ies differ'}\n`,
  );
  printTable(
    ['ENTRY', 'ATTRIBUTE', 'THEN', 'NOW'],
    differences.flatMap((d) =>
      d.then === null
        ? [[d.key, '(entry)', 'absent: removed by --apply', 'present']]
        : d.changed.map((name) => [d.key, name, JSON.stringify(d.then?.[name] ?? null), JSON.stringify(d.now?.[name] ?? null)]),
    ),
  );
}

export async function replay(context: CliContext, options: ReplayOptions): Promise<void> {
  const store = await context.configStore();
  const asNumber = /^\d+$/.test(options.to) ? positiveInteger(options.to, '--to') : undefined;
  const time = asNumber === undefined ? parseTime(options.to) : undefined;
  if (asNumber === undefined && time === undefined)
    throw new CliError(`--to: ${JSON.stringify(options.to)} is neither a sequence number nor a time`, ExitCode.usage);
  const first = await store.firstEvent();
  if (!first) throw new CliError(`--to ${options.to}: the stream POSTERN_CONFIG holds no events yet; nothing to replay`, ExitCode.usage);
  const firstText = `the first available is sequence ${first.sequence} at ${first.time}`;
  if ((asNumber !== undefined && asNumber < first.sequence) || (time !== undefined && time.getTime() < Date.parse(first.time)))
    throw new CliError(`--to ${options.to} is before the first event on the stream; ${firstText}`, ExitCode.usage);
  const last = await store.lastSequence();
  if (asNumber !== undefined && asNumber > last) throw new CliError(`--to ${asNumber}: the stream ends at ${last}`, ExitCode.failed);

  const { target, reached } = await rebuild(store, { sequence: asNumber, time }, last);
  if (isEmptyConfig(target))
    throw new CliError(
      `--to ${options.to} (sequence ${reached}) has no global config, server or domain: replaying it would empty the config; ${firstText}`,
      ExitCode.usage,
    );
  const { entries: current } = await store.entries();
  const differences = differencesBetween(target, current);
  if (!options.json) printDifferences(reached, differences);
  if (!options.apply) {
    if (options.json) printJson({ to: reached, differences });
    return;
  }

  const consent = consentFor(differences, { yes: options.yes === true, terminal: process.stdin.isTTY === true && process.stderr.isTTY === true });
  const changes = differences.reduce((n, d) => n + d.changed.length, 0);
  if (consent === 'no-terminal')
    throw new CliError(
      `--apply would change ${changes} value(s) in ${differences.length} entr${differences.length === 1 ? 'y' : 'ies'}; with no terminal to confirm on, add --yes. Nothing was changed`,
      ExitCode.usage,
    );
  if (consent === 'needs-yes')
    throw new CliError(
      `--apply would remove entries or change more than ${HANDFUL} values (${changes}); add --yes to apply it. Nothing was changed`,
      ExitCode.usage,
    );
  if (consent === 'ask' && !(await confirmed(`Roll back ${differences.length} entr${differences.length === 1 ? 'y' : 'ies'} to sequence ${reached}? [y/N] `)))
    throw new CliError('not applied; nothing was changed', ExitCode.failed);

  const state = await openWatcherState(context);
  const applied: { key: string; sequence: number }[] = [];
  for (const d of differences) {
    const timeNow = new Date().toISOString();
    const event: ConfigEvent = {
      kind: 'rollback',
      scope: d.scope,
      entry: d.entry,
      dn: d.dn,
      op: d.then === null ? 'delete' : d.now === null ? 'add' : 'modify',
      changed: d.changed,
      before: d.now,
      after: d.then,
      csn: `rollback:${randomUUID()}`,
      time: timeNow,
      publishedAt: timeNow,
      source: 'rollback',
      reason: `postern events replay --to ${options.to} (sequence ${reached})`,
    };
    const { sequence } = await store.publish(event);
    // The pin first: a watcher handling this entry in between already keeps the rolled-back values.
    await state.setPin(d.key, pinFor(d.then, d.now, await state.pin(d.key), { scope: d.scope, entry: d.entry, dn: d.dn, sequence, time: timeNow }));
    if (d.then === null) await store.deleteEntry(d.key);
    else {
      const entry: ConfigEntry = { scope: d.scope, entry: d.entry, dn: d.dn, attributes: d.then, sequence, csn: event.csn, time: timeNow };
      await store.putEntry(d.key, entry);
    }
    applied.push({ key: d.key, sequence });
  }
  if (options.json) return printJson({ to: reached, differences, applied });
  process.stdout.write(
    `rolled back ${applied.length} entr${applied.length === 1 ? 'y' : 'ies'}: ${applied.map((a) => `${a.key} (event ${a.sequence})`).join(', ') || 'nothing to do'}\n` +
      (applied.length > 0 ? 'the restored values are pinned until the directory changes them; see: postern config show, postern config check\n' : ''),
  );
}
