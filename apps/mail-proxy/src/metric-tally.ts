/**
 * Counters and gauges a login touches several times (connections, sessions by state, logins by
 * outcome, throttle checks), kept as plain numbers per label set and handed to their prom-client
 * metric when the registry is read (its `collect`). prom-client hashes and validates the labels of
 * every `inc`, about a microsecond each, and a login made a dozen of them; here an `inc` is a Map
 * lookup per label. What a scrape reads is the same: every change made before it.
 */
import { Counter, Gauge, type Registry } from '@postern/service-kit';

type Labels<L extends string> = Readonly<Record<L, string>>;

/** One label set's value, and its labels as prom-client takes them. */
interface Slot<L extends string> {
  readonly labels: Labels<L>;
  value: number;
}

/** Slots by the value of each label in turn: label values are interned names, so each step is a lookup without building a key. */
type SlotTree<L extends string> = Map<string, SlotTree<L> | Slot<L>>;

abstract class Tally<L extends string> {
  private readonly slots: SlotTree<L> = new Map();
  private readonly all: Slot<L>[] = [];

  constructor(private readonly labelNames: readonly L[]) {}

  protected slot(labels: Labels<L>): Slot<L> {
    let tree = this.slots;
    const last = this.labelNames.length - 1;
    for (let i = 0; i < last; i++) {
      const value = labels[this.labelNames[i]!];
      let next = tree.get(value) as SlotTree<L> | undefined;
      if (next === undefined) {
        next = new Map();
        tree.set(value, next);
      }
      tree = next;
    }
    const value = labels[this.labelNames[last]!];
    let slot = tree.get(value) as Slot<L> | undefined;
    if (slot === undefined) {
      slot = { labels: { ...labels }, value: 0 };
      // The series exists (at 0) from its first change on, as prom-client's own would; its labels are checked here, once.
      this.create(slot.labels);
      tree.set(value, slot);
      this.all.push(slot);
    }
    return slot;
  }

  protected each(visit: (slot: Slot<L>) => void): void {
    for (const slot of this.all) visit(slot);
  }

  protected abstract create(labels: Labels<L>): void;
}

/** A counter whose increments are handed to prom-client at each read of the registry. */
export class CounterTally<L extends string> extends Tally<L> {
  private readonly counter: Counter<L>;

  constructor(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    super(config.labelNames);
    const flush = () => this.flush();
    this.counter = new Counter({ ...config, collect: flush });
  }

  inc(labels: Labels<L>, value = 1): void {
    this.slot(labels).value += value;
  }

  private flush(): void {
    this.each((slot) => {
      if (slot.value === 0) return;
      this.counter.inc(slot.labels, slot.value);
      slot.value = 0;
    });
  }

  protected create(labels: Labels<L>): void {
    this.counter.inc(labels, 0);
  }
}

/** A gauge whose values are set on the prom-client gauge at each read of the registry. */
export class GaugeTally<L extends string> extends Tally<L> {
  private readonly gauge: Gauge<L>;

  constructor(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    super(config.labelNames);
    const flush = () => this.flush();
    this.gauge = new Gauge({ ...config, collect: flush });
  }

  inc(labels: Labels<L>, value = 1): void {
    this.slot(labels).value += value;
  }

  dec(labels: Labels<L>, value = 1): void {
    this.slot(labels).value -= value;
  }

  private flush(): void {
    this.each((slot) => this.gauge.set(slot.labels, slot.value));
  }

  protected create(labels: Labels<L>): void {
    this.gauge.set(labels, 0);
  }
}
