import { createLogger } from '@postern/service-kit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RefusalWindows } from './login-audit';

/** A logger that keeps its lines, parsed. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('login-audit-spec', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('RefusalWindows', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('writes the first refusal of an address, counts the rest, and gives their number when the window closes', () => {
    const { logger, lines } = capturingLogger();
    const windows = new RefusalWindows(logger, () => 60_000);
    const admitted = Array.from({ length: 1000 }, () => windows.admit('192.0.2.7', 'imap'));
    expect(admitted.filter(Boolean)).toHaveLength(1);
    expect(admitted[0]).toBe(true);
    // Another address, and another protocol of the same address, have windows of their own.
    expect(windows.admit('192.0.2.8', 'imap')).toBe(true);
    expect(windows.admit('192.0.2.7', 'pop3')).toBe(true);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(59_999);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(1);
    // Only the window that left something out says so.
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'login refusals left out', rip: '192.0.2.7', protocol: 'imap', outcome: 'throttled-ip', suppressed: 999, seconds: 60 }),
    ]);
    expect(windows.open).toBe(0);
    // The flood goes on: the next window writes its first refusal again.
    expect(windows.admit('192.0.2.7', 'imap')).toBe(true);
    expect(windows.admit('192.0.2.7', 'imap')).toBe(false);
  });

  it('closes windows in the order they opened, each at its own end', () => {
    const { logger, lines } = capturingLogger();
    const windows = new RefusalWindows(logger, () => 10_000);
    windows.admit('a', 'imap');
    windows.admit('a', 'imap');
    vi.advanceTimersByTime(4_000);
    windows.admit('b', 'imap');
    windows.admit('b', 'imap');
    windows.admit('b', 'imap');
    vi.advanceTimersByTime(6_000);
    expect(lines.map((l) => [l.rip, l.suppressed])).toEqual([['a', 1]]);
    vi.advanceTimersByTime(4_000);
    expect(lines.map((l) => [l.rip, l.suppressed])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('bounds its memory: past the bound the oldest window closes early, its count written, not lost', () => {
    const { logger, lines } = capturingLogger();
    const windows = new RefusalWindows(logger, () => 60_000, Date.now, 3);
    for (const rip of ['a', 'b', 'c']) {
      windows.admit(rip, 'imap');
      windows.admit(rip, 'imap');
    }
    windows.admit('d', 'imap');
    expect(windows.open).toBe(3);
    expect(lines.map((l) => [l.rip, l.suppressed])).toEqual([['a', 1]]);
  });

  it('flush writes what every open window left out (at shutdown)', () => {
    const { logger, lines } = capturingLogger();
    const windows = new RefusalWindows(logger, () => 60_000);
    windows.admit('a', 'pop3');
    windows.admit('a', 'pop3');
    windows.admit('b', 'pop3');
    windows.flush();
    expect(lines.map((l) => [l.rip, l.protocol, l.suppressed])).toEqual([['a', 'pop3', 1]]);
    expect(windows.open).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with a window of 0 writes every refusal', () => {
    const { logger, lines } = capturingLogger();
    const windows = new RefusalWindows(logger, () => 0);
    expect([windows.admit('a', 'imap'), windows.admit('a', 'imap'), windows.admit('a', 'imap')]).toEqual([true, true, true]);
    vi.runAllTimers();
    expect(lines).toEqual([]);
  });
});
