import { describe, expect, it } from 'vitest';
import { ListenerSet, type ListenerSetOptions, type OpenListener } from './listener-set';

interface Spec {
  readonly name: string;
  readonly port: number;
}

/** A fake server: which spec it was opened for, and whether it was closed. */
interface FakeServer {
  readonly opened: Spec;
  closed: boolean;
}

/** A listener set over fake servers: ports in `busy` cannot be bound; port 0 binds 40000 + n. */
function fixture(options: Partial<ListenerSetOptions<Spec, FakeServer>> = {}) {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const servers: FakeServer[] = [];
  const busy = new Set<number>();
  let gate: Promise<void> = Promise.resolve();
  const set = new ListenerSet<Spec, FakeServer>({
    async open(spec) {
      await gate;
      if (busy.has(spec.port)) throw Object.assign(new Error(`listen EADDRINUSE :::${spec.port}`), { code: 'EADDRINUSE' });
      const server = { opened: spec, closed: false };
      servers.push(server);
      return { server, boundPort: spec.port === 0 ? 40000 + servers.length : spec.port };
    },
    close: (listener: OpenListener<Spec, FakeServer>) => {
      listener.server.closed = true;
    },
    logger: {
      info: (fields, message) => lines.push({ level: 'info', fields, message }),
      error: (fields, message) => lines.push({ level: 'error', fields, message }),
    },
    ...options,
  });
  const open = () => Object.fromEntries(set.listeners.map((l) => [l.spec.name, l.boundPort]));
  const hold = () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    return () => {
      gate = Promise.resolve();
      release();
    };
  };
  return { set, lines, servers, busy, open, hold };
}

describe('ListenerSet', () => {
  it('opens every listener at start, in order, each logged with the port it bound', async () => {
    const { set, lines, open } = fixture();
    await set.start(
      [
        { name: 'imap', port: 143 },
        { name: 'pop3', port: 0 },
      ],
      '192.0.2.1',
    );
    expect(open()).toEqual({ imap: 143, pop3: 40002 });
    expect(lines).toEqual([
      { level: 'info', fields: { listener: 'imap', host: '192.0.2.1', port: 143 }, message: 'listening' },
      { level: 'info', fields: { listener: 'pop3', host: '192.0.2.1', port: 40002 }, message: 'listening' },
    ]);
  });

  it('fails the start when a port cannot be bound', async () => {
    const { set, busy } = fixture();
    busy.add(143);
    await expect(set.start([{ name: 'imap', port: 143 }], '::')).rejects.toThrow(/EADDRINUSE/);
  });

  it('on a change moves, closes and opens what changed, and leaves the rest alone', async () => {
    const { set, lines, servers, open } = fixture();
    await set.start(
      [
        { name: 'a', port: 1001 },
        { name: 'b', port: 1002 },
        { name: 'c', port: 1003 },
      ],
      'h',
    );
    lines.length = 0;
    await set.reopen(() => [
      { name: 'a', port: 1001 },
      { name: 'b', port: 2002 },
      { name: 'd', port: 1004 },
    ]);
    expect(open()).toEqual({ a: 1001, b: 2002, d: 1004 });
    expect(servers.map((s) => [s.opened.name, s.opened.port, s.closed])).toEqual([
      ['a', 1001, false],
      ['b', 1002, true],
      ['c', 1003, true],
      ['b', 2002, false],
      ['d', 1004, false],
    ]);
    // The moved listener opens on its new port before the old one closes.
    expect(lines.map((l) => [l.message, l.fields.listener, l.fields.port])).toEqual([
      ['listening', 'b', 2002],
      ['listener closed (settings changed)', 'b', 1002],
      ['listener closed (settings changed)', 'c', 1003],
      ['listening', 'd', 1004],
    ]);
  });

  it('keeps a listener where it was when its new port cannot be bound, and tries a failed one again on the next change', async () => {
    const { set, lines, servers, busy, open } = fixture();
    await set.start([{ name: 'a', port: 1001 }], 'h');
    busy.add(2001).add(1002);
    lines.length = 0;
    await set.reopen(() => [
      { name: 'a', port: 2001 },
      { name: 'b', port: 1002 },
    ]);
    expect(open()).toEqual({ a: 1001 });
    expect(servers[0]!.closed).toBe(false);
    expect(lines.map((l) => [l.level, l.message, l.fields.listener, l.fields.port, (l.fields.err as Error).message])).toEqual([
      ['error', 'cannot move the listener; it stays on its port', 'a', 2001, 'listen EADDRINUSE :::2001'],
      ['error', 'cannot open the listener', 'b', 1002, 'listen EADDRINUSE :::1002'],
    ]);
    busy.clear();
    await set.reopen(() => [
      { name: 'a', port: 2001 },
      { name: 'b', port: 1002 },
    ]);
    expect(open()).toEqual({ a: 2001, b: 1002 });
  });

  it('makes one change after another, each reading the settings when it is made', async () => {
    const { set, open, hold } = fixture();
    await set.start([{ name: 'a', port: 1001 }], 'h');
    let port = 2001;
    const release = hold();
    const first = set.reopen(() => [{ name: 'a', port }]);
    const second = set.reopen(() => [{ name: 'a', port }]);
    port = 3001;
    release();
    await Promise.all([first, second]);
    expect(open()).toEqual({ a: 3001 });
  });

  it('stops after the change under way, and changes nothing after', async () => {
    // A change asked for before the stop and not yet begun is not made.
    const early = fixture();
    await early.set.start([{ name: 'a', port: 1001 }], 'h');
    const skipped = early.set.reopen(() => [{ name: 'a', port: 2001 }]);
    await early.set.stop();
    await skipped;
    expect(early.open()).toEqual({ a: 1001 });

    const { set, open, hold } = fixture();
    await set.start([{ name: 'a', port: 1001 }], 'h');
    const release = hold();
    const change = set.reopen(() => [{ name: 'a', port: 2001 }]);
    // Let the change begin (it waits in open) before stopping.
    await new Promise((resolve) => setImmediate(resolve));
    const stopped = set.stop();
    release();
    await change;
    expect((await stopped).map((l) => l.boundPort)).toEqual([2001]);
    await set.reopen(() => []);
    expect(open()).toEqual({ a: 2001 });
  });

  it('writes its lines with the prefix and the error fields it is given', async () => {
    const { set, lines, busy } = fixture({ logPrefix: 'web: ', errorFields: (error) => ({ code: (error as { code: string }).code }) });
    await set.start([{ name: 'http', port: 80 }], 'h');
    busy.add(8080);
    await set.reopen(() => [{ name: 'http', port: 8080 }]);
    await set.reopen(() => []);
    expect(lines).toEqual([
      { level: 'info', fields: { listener: 'http', host: 'h', port: 80 }, message: 'web: listening' },
      { level: 'error', fields: { listener: 'http', port: 8080, code: 'EADDRINUSE' }, message: 'web: cannot move the listener; it stays on its port' },
      { level: 'info', fields: { listener: 'http', port: 80 }, message: 'web: listener closed (settings changed)' },
    ]);
  });
});
