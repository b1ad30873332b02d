/**
 * `postern events list|show|replay`: the config history on POSTERN_CONFIG. Replay (in
 * `./replay`) rebuilds the config as it stood at a sequence or a time and, with `--apply`, rolls
 * the running config back to it.
 */
import type { Command } from 'commander';
import { isMalformed, type StoredConfigEvent } from '@postern/config-store';
import { CliError, ExitCode, type CliContext } from '../context';
import { parseTime, printJson, printJsonLine, printTable } from '../output';
import { replay, type ReplayOptions } from './replay';
import { positiveInteger } from './replay-plan';

function row(stored: StoredConfigEvent): string[] {
  const e = stored.event;
  return [
    String(stored.sequence),
    e.time,
    e.kind,
    e.scope,
    e.entry,
    e.op,
    e.kind === 'rejected' ? `${e.changed.join(',')}: ${e.reason ?? ''}` : e.changed.join(','),
  ];
}
const HEADERS = ['SEQ', 'TIME', 'KIND', 'SCOPE', 'ENTRY', 'OP', 'CHANGED'];

export function eventsCommands(program: Command, context: () => CliContext): void {
  const events = program.command('events').description('the config events on the POSTERN_CONFIG stream');

  events
    .command('list')
    .description('the events from a sequence or a time on (all by default); --follow keeps printing new ones until interrupted')
    .option('--since <time>', 'from this time: ISO 8601, or a duration ago (30s, 10m, 2h, 1d)')
    .option('--seq <n>', 'from this sequence number')
    .option('--follow', 'keep printing events as they are published (Ctrl-C to stop)')
    .option('--json', 'print JSON (one event per line with --follow)')
    .action(async (options: { since?: string; seq?: string; follow?: boolean; json?: boolean }) => {
      const store = await context().configStore();
      const time = options.since === undefined ? undefined : parseTime(options.since);
      if (options.since !== undefined && time === undefined)
        throw new CliError(`--since: ${JSON.stringify(options.since)} is not a time (ISO 8601) or a duration (10m)`, ExitCode.usage);
      const sequence = options.seq === undefined ? undefined : positiveInteger(options.seq, '--seq');
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      const collected: StoredConfigEvent[] = [];
      if (!options.json && options.follow) printTable(HEADERS, []);
      for await (const stored of store.events({ sequence, time }, { follow: options.follow, signal: stop.signal })) {
        if (isMalformed(stored)) {
          process.stderr.write(`event ${stored.sequence} is malformed and was skipped: ${stored.problem}\n`);
          continue;
        }
        if (options.follow) {
          if (options.json) printJsonLine(stored);
          else process.stdout.write(`${row(stored).join('  ')}\n`);
        } else collected.push(stored);
      }
      if (options.follow) return;
      if (options.json) printJson(collected);
      else printTable(HEADERS, collected.map(row));
    });

  events
    .command('show')
    .description('one event, whole: the attributes before and after')
    .argument('<seq>', 'its sequence number')
    .option('--json', 'print JSON')
    .action(async (seqText: string, options: { json?: boolean }) => {
      const sequence = positiveInteger(seqText, 'seq');
      const stored = await (await context().configStore()).event(sequence);
      if (!stored) throw new CliError(`no event ${sequence} on the stream; see: postern events list`, ExitCode.failed);
      if (isMalformed(stored)) throw new CliError(`event ${sequence} is malformed: ${stored.problem}`, ExitCode.failed);
      if (options.json) return printJson(stored);
      const e = stored.event;
      process.stdout.write(
        `sequence  ${stored.sequence}\nkind      ${e.kind}\nscope     ${e.scope}\nentry     ${e.entry}\ndn        ${e.dn}\nop        ${e.op}\n` +
          `time      ${e.time} (published ${e.publishedAt}, from ${e.source})\ncsn       ${e.csn}\n` +
          (e.reason ? `reason    ${e.reason}\n` : ''),
      );
      printTable(
        ['ATTRIBUTE', 'BEFORE', 'AFTER'],
        e.changed.map((name) => [name, JSON.stringify(e.before?.[name] ?? null), JSON.stringify(e.after?.[name] ?? null)]),
      );
    });

  events
    .command('replay')
    .description(
      'the config as it stood at a sequence or a time, and how it differs from now; --apply makes it the current config (a roll-back), pinned until the directory changes those values',
    )
    .requiredOption('--to <seq|time>', 'a sequence number, or a time (ISO 8601, or a duration ago: 10m)')
    .option('--apply', 'apply the differing entries as they were (rollback events), for every service; asks first on a terminal')
    .option('--yes', 'apply without asking (scripts; needed on a terminal too when entries would be removed or more than a handful of values change)')
    .option('--json', 'print JSON')
    .action(async (options: ReplayOptions) => replay(context(), options));
}
