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

/** One label set's histogram: observations per bucket (not cumulative), their sum and count. */
interface HistogramSlot<L extends string> {
  readonly labels: Labels<L>;
  readonly perBucket: number[];
  sum: number;
  count: number;
}

/** A value of a prom-client metric's `get()`. */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
  /** Buckets carry one (none here), as prom-client's do. */
  readonly exemplar?: null;
}

/**
 * A histogram kept as plain numbers, registered as a metric of its own: its `get()` gives what
 * prom-client's Histogram's does (the same series, labels and values), so a scrape, and the cluster's
 * aggregation of workers, read it alike. prom-client's `observe` hashes and validates the labels
 * and finds the bucket by a number-keyed property; a login observed three, some 2 µs each.
 */
export class HistogramTally<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly upperBounds: readonly number[];
  private readonly slots = new Map<string, HistogramSlot<L>>();

  constructor(config: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    // The label values as one key (the mail histograms have one label: no joining at all).
    let key = labels[this.labelNames[0]!];
    for (let i = 1; i < this.labelNames.length; i++) key += `\u0000${labels[this.labelNames[i]!]}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      for (const name of Object.keys(labels))
        if (!this.labelNames.includes(name as L)) throw new Error(`Added label "${name}" is not included in initial labelset`);
      slot = { labels: { ...labels }, perBucket: new Array<number>(this.upperBounds.length).fill(0), sum: 0, count: 0 };
      this.slots.set(key, slot);
    }
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        slot.perBucket[i]!++;
        break;
      }
    }
    slot.sum += value;
    slot.count++;
  }

  /** What prom-client's Histogram.get() gives: per label set, the cumulative buckets, +Inf, sum and count. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const slot of this.slots.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += slot.perBucket[i]!;
        values.push({ labels: { le, ...slot.labels }, value: cumulative, metricName: bucketName, exemplar: null });
      });
      values.push({ labels: { le: '+Inf', ...slot.labels }, value: slot.count, metricName: bucketName, exemplar: null });
      values.push({ labels: { ...slot.labels }, value: slot.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...slot.labels }, value: slot.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.slots.clear();
  }
}
