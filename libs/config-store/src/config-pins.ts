/**
 * Roll-back pins: how a roll-back's values hold against the directory, and when they let go.
 *
 * A roll-back (`postern events replay --apply`) does not write the directory; it pins the values it
 * restores. The watcher lays each pin over the directory's entry whenever it publishes that entry,
 * so a later unrelated write does not bring the rolled-back values back. A pinned attribute is
 * released when the directory changes it explicitly: its value there is no longer the one it had
 * when it was pinned, or a logged write names it (accesslog's `reqMod`). A pinned removal or
 * re-creation of a whole entry is released when the directory adds or deletes that entry.
 */
import type { AttributeMap, PinnedEntry } from '@postern/contracts';

function valueOf(map: AttributeMap | null, name: string): readonly string[] | null {
  if (!map) return null;
  const lower = name.toLowerCase();
  for (const [key, values] of Object.entries(map)) if (key.toLowerCase() === lower) return values;
  return null;
}

function same(a: readonly string[] | null, b: readonly string[] | null): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function sorted(map: Record<string, string[]>): AttributeMap {
  return Object.fromEntries(
    Object.keys(map)
      .sort()
      .map((k) => [k, map[k]!]),
  );
}

/** The effective entry, what is left of the pin, and the attributes it let go. */
export interface PinOutcome {
  readonly effective: AttributeMap | null;
  readonly pin: PinnedEntry | undefined;
  readonly released: readonly string[];
}

/**
 * Lays `pin` over the directory's entry `directory` (published attributes; null: absent).
 * `written`: the attributes the change wrote, when its source says (each releases its pin).
 */
export function applyPin(directory: AttributeMap | null, pin: PinnedEntry | undefined, written: readonly string[] = []): PinOutcome {
  if (!pin) return { effective: directory, pin: undefined, released: [] };
  const all = Object.keys(pin.held);
  // The directory added or deleted the entry: that is an explicit change of everything pinned.
  if ((directory === null) !== (pin.directory === null)) return { effective: directory, pin: undefined, released: all.length > 0 ? all : ['(entry)'] };
  if (pin.exists === false) return { effective: null, pin: { ...pin, directory }, released: [] };
  const names = new Set(written.map((n) => n.toLowerCase()));
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(directory ?? {})) out[name] = [...values];
  const held: Record<string, string[] | null> = {};
  const released: string[] = [];
  for (const [name, value] of Object.entries(pin.held)) {
    if (names.has(name.toLowerCase()) || !same(valueOf(directory, name), valueOf(pin.directory, name))) {
      released.push(name);
      continue;
    }
    held[name] = value;
    for (const key of Object.keys(out)) if (key.toLowerCase() === name.toLowerCase()) delete out[key];
    if (value !== null) out[name] = [...value];
  }
  const left = Object.keys(held).length > 0 || pin.exists === true ? { ...pin, directory, held } : undefined;
  return { effective: directory === null && pin.exists !== true ? null : sorted(out), pin: left, released: released.sort() };
}

/**
 * The pin that holds an entry at `then` (null: absent) against the directory, given the effective
 * entry `now` and the entry's current pin (whose `directory` is what the directory has; without
 * one, the directory has what is in effect). Undefined when `then` is what the directory has.
 */
export function pinFor(
  then: AttributeMap | null,
  now: AttributeMap | null,
  existing: PinnedEntry | undefined,
  what: Pick<PinnedEntry, 'scope' | 'entry' | 'dn' | 'sequence' | 'time'>,
): PinnedEntry | undefined {
  const directory = existing ? existing.directory : now;
  if (then === null) return directory === null ? undefined : { ...what, directory, held: {}, exists: false };
  if (directory === null) return { ...what, directory: null, held: { ...then }, exists: true };
  const held: Record<string, string[] | null> = {};
  for (const name of new Set([...Object.keys(then), ...Object.keys(directory)])) {
    const wanted = valueOf(then, name);
    if (!same(wanted, valueOf(directory, name))) held[name] = wanted === null ? null : [...wanted];
  }
  return Object.keys(held).length === 0 ? undefined : { ...what, directory, held };
}
