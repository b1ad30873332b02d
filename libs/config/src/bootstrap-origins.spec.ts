import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapOrigins } from './bootstrap-origins';
import { formatDuration } from './setting';

describe('bootstrapOrigins', () => {
  it('names the environment variable over the config file over the default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-origins-'));
    try {
      const file = join(dir, 'node.json');
      writeFileSync(file, JSON.stringify({ bindHost: '10.0.0.1', natsUrls: ['nats://a:4222'], ldapBindPasswordFile: '/secret' }));
      const origins = new Map(bootstrapOrigins({ POSTERN_CONFIG_FILE: file, POSTERN_NATS_URLS: 'nats://b:4222' }).map((o) => [o.name, o.source]));
      expect(origins.get('natsUrls')).toBe('environment POSTERN_NATS_URLS');
      expect(origins.get('bindHost')).toBe(`file ${file}`);
      expect(origins.get('ldapBindPassword')).toBe(`file ${file}`);
      expect(origins.get('httpPort')).toBe('default');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('formatDuration', () => {
  it('writes milliseconds in the largest unit that divides them', () => {
    expect([1000, 90 * 60_000, 3_600_000, 86_400_000, 1500, 0].map(formatDuration)).toEqual(['1s', '90m', '1h', '1d', '1500ms', '0ms']);
  });
});
