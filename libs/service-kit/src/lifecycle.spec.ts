import { describe, expect, it } from 'vitest';
import { ServiceLifecycle } from './lifecycle';
import { createLogger } from './logger';

const silent = createLogger('test', 'silent');

describe('ServiceLifecycle', () => {
  it('stops in order: serving, then the bus, then the stores, whatever the registration order', async () => {
    const lifecycle = new ServiceLifecycle(silent);
    const order: string[] = [];
    const step =
      (name: string, ms = 0) =>
      () =>
        new Promise<void>((resolve) => setTimeout(() => (order.push(name), resolve()), ms));
    lifecycle.onShutdown('stores', 'memcached', step('memcached'));
    lifecycle.onShutdown('bus', 'nats', step('nats'));
    // A slow drain still finishes before NATS closes.
    lifecycle.onShutdown('serving', 'responder', step('responder', 30));
    lifecycle.onShutdown('serving', 'listeners', step('listeners'));
    await lifecycle.beforeApplicationShutdown('SIGTERM');
    expect(order).toEqual(['listeners', 'responder', 'nats', 'memcached']);
  });

  it('says it is stopping from the first step on, runs once, and goes on past a failed step', async () => {
    const lifecycle = new ServiceLifecycle(silent);
    const seen: string[] = [];
    expect(lifecycle.stopping).toBe(false);
    lifecycle.onShutdown('serving', 'broken', () => Promise.reject(new Error('drain failed')));
    lifecycle.onShutdown('stores', 'memcached', async () => {
      seen.push(`memcached while stopping=${lifecycle.stopping}`);
    });
    await Promise.all([lifecycle.stop('SIGINT'), lifecycle.stop('SIGTERM')]);
    expect(seen).toEqual(['memcached while stopping=true']);
  });
});
