import { secret } from '@postern/contracts';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FlatLines } from './flat-lines';
import { createLogger } from './logger';

/** A destination that keeps every line it is given. */
function capture(): { lines: string[]; write(line: string): void } {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

/** A line without its time (the one part two writes of the same line may differ in). */
const timeless = (line: string) => line.replace(/,"time":"[^"]*"/, '');

describe('FlatLines', () => {
  const lead = { sid: 'abc123', protocol: 'imap' };
  const fields = {
    rip: '192.0.2.7',
    rport: 50123,
    tls: 'none',
    mech: 'LOGIN',
    user: 'Zoë "q" \\ \u0001@example.com',
    authzid: undefined,
    account: 'zoe@example.com',
    outcome: 'ok',
    ok: true,
    ms: 3,
    nan: Number.NaN,
  };

  it('writes the same line as pino, to the same output, bindings of a child included', () => {
    const output = capture();
    const logger = createLogger('mail-proxy', 'info', output, { worker: 2 }).child({ node: 'n1' });
    logger.info({ ...lead, ...fields }, 'login');
    expect(new FlatLines(logger).info(lead, fields, 'login')).toBe(true);
    expect(output.lines).toHaveLength(2);
    expect(timeless(output.lines[1]!)).toBe(timeless(output.lines[0]!));
    const line = JSON.parse(output.lines[1]!) as Record<string, unknown>;
    expect(Object.keys(line).slice(0, 3)).toEqual(['level', 'time', 'service']);
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes nothing below its level, and says so as done', () => {
    const output = capture();
    const logger = createLogger('mail-proxy', 'warn', output);
    expect(new FlatLines(logger).info(lead, fields, 'login')).toBe(true);
    expect(output.lines).toEqual([]);
  });

  it('leaves to pino a line with a field it would change: a secret, a redacted name, an error, an object, a lead key repeated', () => {
    const output = capture();
    const lines = new FlatLines(createLogger('mail-proxy', 'info', output));
    expect(lines.info(lead, { password: 'hunter2' }, 'login')).toBe(false);
    expect(lines.info(lead, { err: new Error('boom') }, 'login')).toBe(false);
    expect(lines.info(lead, { token: secret('t0ken') }, 'login')).toBe(false);
    expect(lines.info(lead, { nested: { a: 1 } }, 'login')).toBe(false);
    expect(lines.info(lead, { sid: 'other' }, 'login')).toBe(false);
    expect(output.lines).toEqual([]);
  });

  it('leaves every line to pino when the logger does more than createLogger sets up', () => {
    const output = capture();
    const logger = pino({ mixin: () => ({ extra: 1 }) }, output);
    expect(new FlatLines(logger).info(lead, fields, 'login')).toBe(false);
    expect(output.lines).toEqual([]);
  });
});
