import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secret } from '@postern/contracts';
import { describe, expect, it, onTestFinished } from 'vitest';
import { consoleOutput, createLogger, formatLogLine, logFormat, shortId, TurnBufferedOutput } from './logger';

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

/** A pino line at 09:05:03.007 local time (the console shows local time, as nginx and Dovecot do). */
function line(fields: Record<string, unknown>): string {
  const time = new Date(2026, 11, 7, 9, 5, 3, 7).toISOString();
  return `${JSON.stringify({ level: 30, time, pid: 4242, service: 'mail-proxy', name: 'mail-proxy', msg: 'login ok', ...fields })}\n`;
}

describe('formatLogLine', () => {
  it('reads time, service, level and message, then the fields as key=value', () => {
    expect(formatLogLine(line({ session: 'k3x9ab', user: 'alice@example.com', ms: 12, tls: true }))).toBe(
      '09:05:03.007 mail-proxy     INFO  login ok session=k3x9ab user=alice@example.com ms=12 tls=true\n',
    );
  });

  it("reads the web proxy's access lines (no level: not pino's) the same way, under web-proxy with HTTP for the level", () => {
    const time = new Date(2026, 11, 7, 9, 5, 3, 7).toISOString();
    const access = `${JSON.stringify({ time, msg: 'access', rid: 'nfvytm7v6v', client: '127.0.0.1', method: 'PUT', path: '/home/bob@example.com/Inbox', status: 200, protocol: 'h2' })}\n`;
    expect(formatLogLine(access)).toBe(
      '09:05:03.007 web-proxy      HTTP  access rid=nfvytm7v6v client=127.0.0.1 method=PUT path=/home/bob@example.com/Inbox status=200 protocol=h2\n',
    );
    // Any other line without a level is not one of Postern's: it passes through unchanged.
    const other = `${JSON.stringify({ time, msg: 'something else' })}\n`;
    expect(formatLogLine(other)).toBe(other);
  });

  it.each([
    [10, 'TRACE', 90],
    [20, 'DEBUG', 36],
    [30, 'INFO ', 32],
    [40, 'WARN ', 33],
    [50, 'ERROR', 31],
    [60, 'FATAL', 35],
  ])('names level %i %s, coloured only when asked', (level, name, colour) => {
    expect(formatLogLine(line({ level }))).toBe(`09:05:03.007 mail-proxy     ${name} login ok\n`);
    expect(formatLogLine(line({ level }), { colour: true })).toBe(`09:05:03.007 mail-proxy     \x1b[${colour}m${name}\x1b[0m login ok\n`);
  });

  it('flattens nested fields, quotes what is not one word, and keeps a worker binding', () => {
    const formatted = formatLogLine(
      line({ worker: 0, request: { method: 'GET', path: '/home/a b', headers: {} }, servers: ['nats://a:4222', 'nats://b:4222'], note: '', gone: null }),
    );
    expect(formatted).toBe(
      '09:05:03.007 mail-proxy     INFO  login ok worker=0 request.method=GET request.path="/home/a b" request.headers={} servers=nats://a:4222,nats://b:4222 note="" gone=null\n',
    );
  });

  it("keeps an error's message on the line and its stack indented below", () => {
    const err = {
      type: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:11211',
      code: 'ECONNREFUSED',
      stack: 'Error: connect ECONNREFUSED\n    at a (x.js:1:1)',
    };
    expect(formatLogLine(line({ level: 50, msg: 'memcached down', err }))).toBe(
      [
        '09:05:03.007 mail-proxy     ERROR memcached down err="connect ECONNREFUSED 127.0.0.1:11211" err.code=ECONNREFUSED',
        '    Error: connect ECONNREFUSED',
        '        at a (x.js:1:1)',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['a line that is not JSON', 'Postern is running on this machine:\n'],
    ['JSON that is not a log line', '{"hello":"world"}\n'],
    ['broken JSON', '{"level":30,\n'],
    ['an empty line', '\n'],
    ['a line without its newline', 'plain'],
  ])('passes %s through unchanged', (_what, text) => {
    expect(formatLogLine(text)).toBe(text);
  });

  it('formats what a logger writes, through the per-turn output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-log-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const fd = openSync(join(dir, 'out'), 'w');
    onTestFinished(() => closeSync(fd));
    const logger = createLogger('route-lookup', 'info', consoleOutput(new TurnBufferedOutput(fd), 'text', false));
    logger.info({ user: 'bob', password: 'hunter2' }, 'route found');
    logger.flush();
    expect(readFileSync(join(dir, 'out'), 'utf8')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} route-lookup   INFO  route found user=bob password=\[redacted\]\n$/);
  });
});

describe('logFormat', () => {
  it('is text on a terminal and JSON elsewhere, unless POSTERN_LOG_FORMAT says', () => {
    expect(logFormat({}, true)).toBe('text');
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({ POSTERN_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ POSTERN_LOG_FORMAT: 'text' }, false)).toBe('text');
    expect(logFormat({ POSTERN_LOG_FORMAT: '' }, true)).toBe('text');
  });

  it('refuses any other value, naming the variable', () => {
    expect(() => logFormat({ POSTERN_LOG_FORMAT: 'pretty' }, true)).toThrow(/POSTERN_LOG_FORMAT: invalid value "pretty"; accepted: json, text/);
  });
});
