import { describe, expect, it } from 'vitest';
import { isoTimeAt } from './iso-time';

describe('isoTimeAt', () => {
  it("is toISOString's (pino's isoTime) for every millisecond, across seconds, minutes and years", () => {
    const starts = [Date.UTC(2026, 11, 31, 23, 59, 59), Date.UTC(2027, 0, 1), 0, 1_000_000_007];
    for (const start of starts)
      for (const ms of [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 60_000]) expect(isoTimeAt(start + ms)).toBe(new Date(start + ms).toISOString());
    // Back in time (a clock set back): the time follows.
    expect(isoTimeAt(starts[0]!)).toBe(new Date(starts[0]!).toISOString());
    expect(isoTimeAt(starts[0]! - 1)).toBe(new Date(starts[0]! - 1).toISOString());
  });
});
