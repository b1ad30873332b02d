import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterTally, GaugeTally, HistogramTally } from './metric-tally';

/** The value of one series of `name` as a scrape reads it (undefined when absent). */
async function scraped(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)!.get();
  const series = metric.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value));
  return series?.value;
}

describe('metric tallies', () => {
  it('a counter reads, at every scrape, every increment made before it', async () => {
    const registry = new Registry();
    const tally = new CounterTally({ name: 't_total', help: 'h', labelNames: ['protocol', 'outcome'], registers: [registry] });
    tally.inc({ protocol: 'imap', outcome: 'ok' });
    tally.inc({ protocol: 'imap', outcome: 'ok' });
    tally.inc({ protocol: 'imap', outcome: 'rejected' }, 5);
    tally.inc({ protocol: 'pop3', outcome: 'ok' });
    expect(await scraped(registry, 't_total', { protocol: 'imap', outcome: 'ok' })).toBe(2);
    expect(await scraped(registry, 't_total', { protocol: 'imap', outcome: 'rejected' })).toBe(5);
    tally.inc({ protocol: 'imap', outcome: 'ok' });
    expect(await scraped(registry, 't_total', { protocol: 'imap', outcome: 'ok' })).toBe(3);
    expect(await scraped(registry, 't_total', { protocol: 'pop3', outcome: 'ok' })).toBe(1);
    expect(await registry.metrics()).toContain('t_total{protocol="imap",outcome="ok"} 3');
  });

  it('a gauge reads its current value, and a label it does not have is refused at once', async () => {
    const registry = new Registry();
    const tally = new GaugeTally({ name: 'g', help: 'h', labelNames: ['protocol', 'state'], registers: [registry] });
    tally.inc({ protocol: 'imap', state: 'preauth' });
    tally.inc({ protocol: 'imap', state: 'preauth' });
    tally.dec({ protocol: 'imap', state: 'preauth' });
    tally.inc({ protocol: 'imap', state: 'proxied' });
    expect(await scraped(registry, 'g', { state: 'preauth' })).toBe(1);
    tally.dec({ protocol: 'imap', state: 'proxied' });
    expect(await scraped(registry, 'g', { state: 'proxied' })).toBe(0);
    expect(() => new CounterTally({ name: 'c_total', help: 'h', labelNames: ['a'], registers: [registry] }).inc({ b: 'x' } as never)).toThrow();
  });
});

describe('histogram tally', () => {
  it("scrapes as prom-client's own histogram does, fed the same observations", async () => {
    const [ours, theirs] = [new Registry(), new Registry()];
    const config = { name: 'h_seconds', help: 'Time "taken".', labelNames: ['source'] as const, buckets: [0.001, 0.01, 0.1, 1] };
    const tally = new HistogramTally({ ...config, registers: [ours] });
    const histogram = new Histogram({ ...config, labelNames: ['source'], registers: [theirs] });
    const observations: [string, number][] = [
      ['cache', 0.0004],
      ['cache', 0.001],
      ['cache', 0.02],
      ['directory', 0.5],
      ['directory', 3],
      ['cache', 0],
    ];
    for (const [source, value] of observations) {
      tally.observe({ source }, value);
      histogram.observe({ source }, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    expect(() => tally.observe({ source: 'cache' }, Number.NaN)).toThrow(TypeError);
    expect(() => tally.observe({ other: 'x' } as never, 1)).toThrow();
  });
});
