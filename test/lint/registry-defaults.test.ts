/**
 * The settings registry (libs/config) holds every setting's default. Libraries read it from there,
 * except the memcached driver, which sits below the registry (a driver depends on no library) and
 * keeps defaults of its own for callers without settings (the CLI, tests): those must be the
 * registry's, and the services pass the settings' values anyway.
 */
import { Settings } from '@postern/config';
import { DEFAULT_RETRY_DEAD_SERVER_MS, DEFAULT_TIMEOUT_MS } from '@postern/memcached';
import { DEFAULT_ROUTE_TTL_SECONDS } from '@postern/route-cache';
import { describe, expect, it } from 'vitest';

describe('defaults restated outside the registry', () => {
  it("the memcached driver's are the cache settings' defaults", () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(Settings.zimbraReverseProxyCacheFetchTimeout.default);
    expect(DEFAULT_RETRY_DEAD_SERVER_MS).toBe(Settings.zimbraReverseProxyCacheReconnectInterval.default);
  });

  it("the route cache's entry lifetime is zimbraReverseProxyCacheEntryTTL's default, in seconds", () => {
    expect(DEFAULT_ROUTE_TTL_SECONDS * 1000).toBe(Settings.zimbraReverseProxyCacheEntryTTL.default);
  });
});
