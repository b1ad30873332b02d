import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@postern/service-kit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessLog, accessLine, loggedTarget, type AccessRecord } from './access-log';

const record: AccessRecord = {
  rid: 'r1',
  client: '192.0.2.1',
  vhost: 'mail.example.com',
  method: 'GET',
  path: '/',
  status: 200,
  bytesIn: 0,
  bytesOut: 12,
  upstream: 'mbox1:8443',
  route: 'pool',
  protocol: 'h2',
  ms: 1.234,
};

/** Waits until `file`'s lines (written off the event loop) include `rid`. */
const writtenTo = (file: string, rid: string) => vi.waitFor(() => expect(readFileSync(file, 'utf8')).toContain(`"rid":"${rid}"`));

describe('loggedTarget', () => {
  it.each([
    ['/service/soap?zauthtoken=0_abc_6964&fmt=json', '/service/soap?zauthtoken=[redacted]&fmt=json'],
    ['/home/alice/?ZJWT=eyJ.x.y', '/home/alice/?ZJWT=[redacted]'],
    ['/oauth?access_token=t&password=p&user=a', '/oauth?access_token=[redacted]&password=[redacted]&user=a'],
    ['/plain/path', '/plain/path'],
  ])('%s → %s', (target, logged) => {
    expect(loggedTarget(target)).toBe(logged);
  });

  it('cuts a huge target', () => {
    expect(loggedTarget(`/${'a'.repeat(10_000)}`)).toHaveLength(2049);
  });
});

describe('accessLine', () => {
  it.each([
    ['a plain record', record],
    ['no virtual host', { ...record, vhost: undefined }],
    ['quotes, backslashes, control and non-ASCII characters', { ...record, path: '/a"b\\c\n\u0001é\u2028', client: '2001:db8::1', method: 'P"OST' }],
  ])('%s: the same line as JSON.stringify of the record', (_name, r: AccessRecord) => {
    const line = accessLine(r);
    const time = (JSON.parse(line) as { time: string }).time;
    expect(line).toBe(`${JSON.stringify({ time, msg: 'access', ...r, ms: Math.round(r.ms * 10) / 10 })}\n`);
  });
});

describe('AccessLog', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes JSON lines to its file, none when off, and lets a rotated file go on reopen', async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
    const file = join(dir, 'access.log');
    let where = file;
    const log = new AccessLog(() => where, createLogger('test', 'silent'));
    log.write(record);
    await writtenTo(file, 'r1');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ msg: 'access', ...record, ms: 1.2 });
    where = 'off';
    log.write({ ...record, rid: 'r2' });
    // Rotated away: lines still go to the old file until the reopen (SIGHUP), then to a new one.
    where = file;
    renameSync(file, `${file}.1`);
    log.write({ ...record, rid: 'r3' });
    log.reopen();
    log.write({ ...record, rid: 'r4' });
    await log.close();
    expect(
      readFileSync(`${file}.1`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as AccessRecord).rid),
    ).toEqual(['r1', 'r3']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ rid: 'r4' });
  });

  it('has written every line taken when close() resolves (an orderly stop)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
    const file = join(dir, 'access.log');
    const log = new AccessLog(() => file, createLogger('test', 'silent'));
    for (let i = 0; i < 5000; i++) log.write({ ...record, rid: `r${i}` });
    await log.close();
    const rids = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as AccessRecord).rid);
    expect(rids).toEqual(Array.from({ length: 5000 }, (_, i) => `r${i}`));
  });

  it('counts the lines a file does not take, and warns once for a burst of them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
    const warnings: string[] = [];
    const counted: [string, number][] = [];
    const logger = createLogger('test', 'warn', { write: (line: string) => void warnings.push(line) });
    // /dev/full refuses every write (ENOSPC), as a full disk does.
    const log = new AccessLog(() => '/dev/full', logger, { inc: ({ reason }, value) => void counted.push([reason, value]) });
    log.write(record);
    log.write(record);
    await vi.waitFor(() => expect(counted).toEqual([['error', 2]]));
    log.write(record);
    await log.close();
    expect(counted).toEqual([
      ['error', 2],
      ['error', 1],
    ]);
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ msg: 'web: access log lines dropped: a write failed', dropped: 2, reason: 'error', code: 'ENOSPC' });
  });

  it('a stop does not wait past its bound for a disk that takes nothing: the rest is dropped, counted and told', async () => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
    const fifo = join(dir, 'access.log');
    execFileSync('mkfifo', [fifo]);
    // A reader that never reads: the pipe fills, and the write in flight blocks as on a hung disk.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const warnings: string[] = [];
    const counted: [string, number][] = [];
    const logger = createLogger('test', 'warn', { write: (line: string) => void warnings.push(line) });
    const log = new AccessLog(() => fifo, logger, { inc: ({ reason }, value) => void counted.push([reason, value]) });
    const long = { ...record, path: `/${'p'.repeat(1500)}` };
    for (let i = 0; i < 200; i++) log.write(long);
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 3; i++) log.write(record);
    const started = performance.now();
    await log.close(200);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(counted).toEqual([['behind', 3]]);
    expect(warnings.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain(
      "web: access log: the disk took no more lines within the stop's wait; the rest are dropped",
    );
    // The reader gone, the blocked write returns, and what it carried is counted (not written after it: the file is closed).
    closeSync(reader);
    await vi.waitFor(() => expect(counted).toHaveLength(2));
    expect(counted[1]![1]).toBe(200);
  });

  it('a file it cannot open costs one error line, not one per request', () => {
    dir = mkdtempSync(join(tmpdir(), 'access-log-'));
    const errors: string[] = [];
    const logger = createLogger('test', 'error', { write: (line: string) => void errors.push(line) });
    const log = new AccessLog(() => join(dir, 'missing', 'access.log'), logger);
    log.write(record);
    log.write(record);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('access log cannot be opened');
  });
});
