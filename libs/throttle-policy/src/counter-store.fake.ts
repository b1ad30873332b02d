/**
 * A fake {@link CounterStore} for unit tests: a map with memcached's semantics (TTL in seconds on
 * creation, increments do not extend it) on a fake clock, and a switch to make it fail.
 */
import { cellId, CounterStoreError, type BucketCell, type CounterId, type CounterStore } from './sliding-window';

export class FakeClock {
  constructor(public ms: number = 1_700_000_000_000) {}
  readonly now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export class FakeCounterStore implements CounterStore {
  readonly entries = new Map<string, { value: number; expiresAt: number }>();
  /** When set, every operation rejects with it. */
  failure: Error | undefined;
  /** When set, every operation waits for this promise first (to simulate a hung store). */
  stall: Promise<void> | undefined;
  operations = 0;

  constructor(private readonly clock: FakeClock) {}

  async increment(cell: BucketCell, delta: number, ttlSeconds: number): Promise<number> {
    await this.gate();
    const key = JSON.stringify(cellId(cell));
    const now = this.clock.now();
    let entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) {
      entry = { value: 0, expiresAt: now + ttlSeconds * 1000 };
      this.entries.set(key, entry);
    }
    entry.value += delta;
    return entry.value;
  }

  async claim(id: CounterId, ttlSeconds: number): Promise<boolean> {
    await this.gate();
    const key = `claim:${JSON.stringify(id)}`;
    const now = this.clock.now();
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > now) return false;
    this.entries.set(key, { value: 1, expiresAt: now + ttlSeconds * 1000 });
    return true;
  }

  async read(cells: readonly BucketCell[]): Promise<number[]> {
    await this.gate();
    const now = this.clock.now();
    return cells.map((cell) => {
      const entry = this.entries.get(JSON.stringify(cellId(cell)));
      return entry && entry.expiresAt > now ? entry.value : 0;
    });
  }

  private async gate(): Promise<void> {
    this.operations++;
    if (this.stall) await this.stall;
    if (this.failure) throw this.failure;
  }
}

export const storeDown = () => new CounterStoreError('memcached 127.0.0.1:1 is down');
