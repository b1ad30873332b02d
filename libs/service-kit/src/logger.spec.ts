import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secret } from '@postern/contracts';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger, shortId, TurnBufferedOutput } from './logger';

describe('shortId', () => {
  it('gives ids of the asked length from its alphabet, distinct across pool refills', () => {
    const ids = Array.from({ length: 2000 }, () => shortId(10));
    expect(ids.every((id) => /^[a-km-np-z2-9]{10}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(shortId(20)).toHaveLength(20);
    expect(shortId(5000)).toHaveLength(5000);
  });
});

describe('TurnBufferedOutput', () => {
  it('writes the lines of one turn together, after the turn, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-log-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const fd = openSync(join(dir, 'out'), 'w');
    onTestFinished(() => closeSync(fd));
    const output = new TurnBufferedOutput(fd);
    const logger = createLogger('test', 'info', output);
    logger.info({ password: 'hunter2', request: { token: 't0ken' }, deep: { down: { here: secret('s3cret') } } }, 'one');
    logger.info('two');
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = readFileSync(join(dir, 'out'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.msg)).toEqual(['one', 'two']);
    expect(lines[0]!.password).toBe('[redacted]');
    expect(lines[0]!.request).toEqual({ token: '[redacted]' });
    expect(lines[0]!.deep).toEqual({ down: { here: '[redacted]' } });
  });

  it('writes at once when a turn holds more than its bound, and on flush', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-log-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const fd = openSync(join(dir, 'out'), 'w');
    onTestFinished(() => closeSync(fd));
    const output = new TurnBufferedOutput(fd);
    output.write(`${'x'.repeat(70_000)}\n`);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toHaveLength(70_001);
    output.write('y\n');
    let flushed = false;
    output.flush(() => (flushed = true));
    expect(flushed).toBe(true);
    expect(readFileSync(join(dir, 'out'), 'utf8').endsWith('x\ny\n')).toBe(true);
  });
});
