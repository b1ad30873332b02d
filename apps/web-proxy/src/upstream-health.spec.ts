import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { UpstreamHealth } from './upstream-health';

describe('UpstreamHealth', () => {
  it('takes a server out after max_fails within fail_timeout, and back after it', () => {
    let now = 0;
    const changes: [string, boolean][] = [];
    const health = new UpstreamHealth(
      () => ({ maxFails: 2, failTimeoutMs: 10_000 }),
      (upstream, up) => changes.push([upstream, up]),
      () => now,
    );
    health.failed('a:1', 'ECONNREFUSED');
    expect(health.isUp('a:1')).toBe(true);
    health.failed('a:1', 'ECONNREFUSED');
    expect(health.isUp('a:1')).toBe(false);
    expect(changes).toEqual([['a:1', false]]);
    now = 10_001;
    expect(health.isUp('a:1')).toBe(true);
    // Failures further apart than fail_timeout do not add up.
    health.failed('a:1', 'ECONNREFUSED');
    now = 30_000;
    health.failed('a:1', 'ECONNREFUSED');
    expect(health.isUp('a:1')).toBe(true);
  });

  it('a success clears the count', () => {
    const health = new UpstreamHealth(() => ({ maxFails: 2, failTimeoutMs: 10_000 }));
    health.failed('a:1', 'ECONNREFUSED');
    health.succeeded('a:1');
    health.failed('a:1', 'ECONNREFUSED');
    expect(health.isUp('a:1')).toBe(true);
  });

  it('an active check marks an unreachable server out and a reachable one in', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const open = `127.0.0.1:${(server.address() as { port: number }).port}`;
    // A port nobody listens on: the server just closed.
    const closedServer = createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const closed = `127.0.0.1:${(closedServer.address() as { port: number }).port}`;
    await new Promise<void>((resolve) => closedServer.close(() => resolve()));

    const changes: [string, boolean, boolean][] = [];
    const health = new UpstreamHealth(
      () => ({ maxFails: 1, failTimeoutMs: 10_000 }),
      (upstream, up, _why, first) => changes.push([upstream, up, first]),
    );
    onTestFinished(() => health.stop());
    health.start(
      () => [open, closed],
      () => 0,
    );
    // Each server's first check is reported (the gauge of a healthy one says 1 from the start).
    await expect.poll(() => changes.length, { timeout: 4_000 }).toBe(2);
    expect(changes).toEqual(
      expect.arrayContaining([
        [closed, false, true],
        [open, true, true],
      ]),
    );
    expect(health.isUp(open)).toBe(true);
    expect(health.isUp(closed)).toBe(false);
  });
});
