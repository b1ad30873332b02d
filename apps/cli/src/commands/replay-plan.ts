/**
 * What `postern events replay` computes before it touches anything: the config as it stood at the
 * target (from the events up to there), how each entry differs from now, and whether an `--apply`
 * may go ahead without a question, after one, or not at all.
 */
import type { AttributeMap, ConfigEvent, PinnedEntry } from '@postern/contracts';
import { configKey } from '@postern/contracts';
import { CliError, ExitCode } from '../context';

/** Beyond this many changed attributes a roll-back is not a small one: it needs `--yes` even on a terminal. */
export const HANDFUL = 5;

export interface TargetEntry {
  readonly scope: 'global' | 'server' | 'domain';
  readonly entry: string;
  readonly dn: string;
  readonly attributes: AttributeMap | null;
}

export interface Difference {
  readonly key: string;
  readonly scope: TargetEntry['scope'];
  readonly entry: string;
  readonly dn: string;
  readonly changed: string[];
  readonly then: AttributeMap | null;
  readonly now: AttributeMap | null;
}

/** Attribute names whose values differ between two states of an entry. */
export function changedAttributes(before: AttributeMap | null, after: AttributeMap | null): string[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].filter((n) => JSON.stringify(before?.[n] ?? null) !== JSON.stringify(after?.[n] ?? null)).sort();
}

/** Folds one event into the config being rebuilt (rejected events and accounts change nothing). */
export function foldEvent(target: Map<string, TargetEntry>, e: ConfigEvent): void {
  if (e.kind === 'rejected' || e.scope === 'account') return;
  target.set(configKey(e.scope, e.entry), { scope: e.scope, entry: e.entry, dn: e.dn, attributes: e.after });
}

/** Each entry whose attributes at the target differ from now (an entry absent at either end included). */
export function differencesBetween(
  target: ReadonlyMap<string, TargetEntry>,
  current: ReadonlyMap<string, Omit<TargetEntry, 'attributes'> & { attributes: AttributeMap }>,
): Difference[] {
  const out: Difference[] = [];
  for (const key of [...new Set([...target.keys(), ...current.keys()])].sort()) {
    const then = target.get(key);
    const now = current.get(key);
    const changed = changedAttributes(then?.attributes ?? null, now?.attributes ?? null);
    if (changed.length === 0) continue;
    const named = (then ?? now)!;
    out.push({ key, scope: named.scope, entry: named.entry, dn: then?.dn ?? now!.dn, changed, then: then?.attributes ?? null, now: now?.attributes ?? null });
  }
  return out;
}

/** True when the rebuilt config has no global config, server or domain: applying it would empty every node's config. */
export function isEmptyConfig(target: ReadonlyMap<string, TargetEntry>): boolean {
  return ![...target.values()].some((t) => t.attributes !== null);
}

/** What an `--apply` needs before it goes ahead. */
export type Consent = 'go' | 'ask' | 'needs-yes' | 'no-terminal';

/** Large: it removes an entry, or changes more than {@link HANDFUL} attributes. */
export function isLarge(differences: readonly Difference[]): boolean {
  const removes = differences.some((d) => d.then === null);
  return removes || differences.reduce((n, d) => n + d.changed.length, 0) > HANDFUL;
}

/**
 * `--yes` goes ahead; on a terminal a small roll-back is asked about and a large one needs `--yes`;
 * without a terminal nothing is applied without `--yes`.
 */
export function consentFor(differences: readonly Difference[], options: { yes: boolean; terminal: boolean }): Consent {
  if (options.yes || differences.length === 0) return 'go';
  if (!options.terminal) return 'no-terminal';
  return isLarge(differences) ? 'needs-yes' : 'ask';
}

/** The pinned values of an entry, for the tables of `config show` and `config check`. */
export function pinnedRows(key: string, pin: PinnedEntry): { key: string; attribute: string; held: string[] | null; directory: string[] | null }[] {
  if (pin.exists === false) return [{ key, attribute: '(entry)', held: null, directory: ['present'] }];
  return Object.entries(pin.held).map(([attribute, held]) => ({ key, attribute, held, directory: pin.directory?.[attribute] ?? null }));
}

/** A sequence number given on the command line (an integer from 1). */
export function positiveInteger(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`${what}: ${JSON.stringify(text)} is not a sequence number (an integer from 1)`, ExitCode.usage);
  return n;
}
