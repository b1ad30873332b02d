import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { mergedMetrics, mergeHealth } from './observability-server';

describe('mergedMetrics', () => {
  it('exposes the same metric of two hosted services as one family, told apart by the service label', async () => {
    const registries = ['route-lookup', 'login-throttle'].map((service, i) => {
      const registry = new Registry();
      registry.setDefaultLabels({ service });
      new Counter({ name: 'postern_config_refused_total', help: 'Refused.', registers: [registry] }).inc(i + 1);
      return registry;
    });
    const text = await mergedMetrics(registries);
    expect(text.match(/^# TYPE postern_config_refused_total counter$/gm)).toHaveLength(1);
    expect(text).toContain('postern_config_refused_total{service="route-lookup"} 1');
    expect(text).toContain('postern_config_refused_total{service="login-throttle"} 2');
  });
});

describe('mergeHealth', () => {
  it('is healthy only when every part is, naming each check after its part', () => {
    const up = { healthy: true, checks: { nats: true } };
    const down = { healthy: false, checks: { nats: false } };
    expect(
      mergeHealth([
        { name: 'a', report: up },
        { name: 'b', report: up },
      ]),
    ).toEqual({ healthy: true, checks: { 'a:nats': true, 'b:nats': true } });
    expect(
      mergeHealth([
        { name: 'a', report: up },
        { name: 'b', report: down },
      ]),
    ).toEqual({ healthy: false, checks: { 'a:nats': true, 'b:nats': false } });
  });
});
