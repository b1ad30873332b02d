/**
 * `postern events list|show|replay`: the config history on POSTERN_CONFIG. Replay rebuilds the
 * config as it stood at a sequence or a time from the events up to there, shows how it differs
 * from now, and with `--apply` publishes it again as the current config: one `rollback` event per
 * entry that differs, applied by every service like any change. The directory itself is not
 * written: the next change of such an entry in the directory is published over the roll-back.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { ConfigBucket, configKey, type AttributeMap, type ConfigEntry, type ConfigEvent } from '@postern/contracts';
import { isMalformed, type StoredConfigEvent } from '@postern/service-kit/client';
import { CliError, ExitCode, type CliContext } from '../context';
import { parseTime, printJson, printJsonLine, printTable, progress, progressDone } from '../output';

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

function positiveInteger(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`${what}: ${JSON.stringify(text)} is not a sequence number (an integer from 1)`, ExitCode.usage);
  return n;
}

/** Attribute names whose values differ between two states of an entry. */
function changedAttributes(before: AttributeMap | null, after: AttributeMap | null): string[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].filter((n) => JSON.stringify(before?.[n] ?? null) !== JSON.stringify(after?.[n] ?? null)).sort();
}

interface TargetEntry {
  readonly scope: 'global' | 'server' | 'domain';
  readonly entry: string;
  readonly dn: string;
  readonly attributes: AttributeMap | null;
}

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
    .description('the config as it stood at a sequence or a time, and how it differs from now; --apply publishes it as the current config (a roll-back)')
    .requiredOption('--to <seq|time>', 'a sequence number, or a time (ISO 8601, or a duration ago: 10m)')
    .option('--apply', 'publish the differing entries as they were (rollback events), for every service to apply')
    .option('--json', 'print JSON')
    .action(async (options: { to: string; apply?: boolean; json?: boolean }) => {
      const store = await context().configStore();
      const asNumber = /^\d+$/.test(options.to) ? positiveInteger(options.to, '--to') : undefined;
      const time = asNumber === undefined ? parseTime(options.to) : undefined;
      if (asNumber === undefined && time === undefined)
        throw new CliError(`--to: ${JSON.stringify(options.to)} is neither a sequence number nor a time`, ExitCode.usage);
      const last = await store.lastSequence();
      if (asNumber !== undefined && asNumber > last) throw new CliError(`--to ${asNumber}: the stream ends at ${last}`, ExitCode.failed);

      // The config at the target: for each entry, the last change or roll-back up to there.
      const target = new Map<string, TargetEntry>();
      let reached = 0;
      let read = 0;
      for await (const stored of store.events({ sequence: 1 })) {
        if (++read % 500 === 0) progress(`reading events: ${read} of ${last}`);
        if (isMalformed(stored)) continue;
        const e: ConfigEvent = stored.event;
        if (asNumber !== undefined ? stored.sequence > asNumber : Date.parse(e.publishedAt) > time!.getTime()) break;
        reached = stored.sequence;
        if (e.kind === 'rejected' || e.scope === 'account') continue;
        target.set(configKey(e.scope, e.entry), { scope: e.scope, entry: e.entry, dn: e.dn, attributes: e.after });
      }
      if (read >= 500) progressDone(`read ${read} events`);
      const { entries: current } = await store.entries();
      const differences: {
        key: string;
        scope: TargetEntry['scope'];
        entry: string;
        dn: string;
        changed: string[];
        then: AttributeMap | null;
        now: AttributeMap | null;
      }[] = [];
      for (const key of new Set([...target.keys(), ...current.keys()])) {
        const then = target.get(key);
        const now = current.get(key);
        const changed = changedAttributes(then?.attributes ?? null, now?.attributes ?? null);
        if (changed.length === 0) continue;
        const scope = then?.scope ?? now!.scope;
        differences.push({
          key,
          scope,
          entry: then?.entry ?? now!.entry,
          dn: then?.dn ?? now!.dn,
          changed,
          then: then?.attributes ?? null,
          now: now?.attributes ?? null,
        });
      }
      const applied: { key: string; sequence: number }[] = [];
      if (options.apply) {
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
          if (d.then === null) await store.deleteEntry(d.key);
          else {
            const entry: ConfigEntry = { scope: d.scope, entry: d.entry, dn: d.dn, attributes: d.then, sequence, csn: event.csn, time: timeNow };
            await store.putEntry(d.key, entry);
          }
          applied.push({ key: d.key, sequence });
        }
      }
      if (options.json) return printJson({ to: reached, differences, applied: options.apply ? applied : undefined });
      process.stdout.write(
        `config at sequence ${reached} against now (${ConfigBucket.name}): ${differences.length} entr${differences.length === 1 ? 'y differs' : 'ies differ'}\n`,
      );
      printTable(
        ['ENTRY', 'ATTRIBUTE', 'THEN', 'NOW'],
        differences.flatMap((d) => d.changed.map((name) => [d.key, name, JSON.stringify(d.then?.[name] ?? null), JSON.stringify(d.now?.[name] ?? null)])),
      );
      if (options.apply)
        process.stdout.write(
          `rolled back ${applied.length} entr${applied.length === 1 ? 'y' : 'ies'}: ${applied.map((a) => `${a.key} (event ${a.sequence})`).join(', ') || 'nothing to do'}\n`,
        );
    });
}
