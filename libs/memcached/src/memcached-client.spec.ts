import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheProtocolError } from './errors';
import { MAX_MERGED_GET_LINE_BYTES } from './limits';
import { MemcachedClient } from './memcached-client';

/**
 * A scripted server: records every command line it reads and every read (to see what went out in
 * one write), and answers each line with `answer(line)`.
 */
interface Scripted {
  readonly address: string;
  readonly lines: string[];
  readonly reads: string[];
}

const servers: Server[] = [];
const clients: MemcachedClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function scripted(answer: (line: string) => string): Promise<Scripted> {
  const lines: string[] = [];
  const reads: string[] = [];
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      reads.push(chunk.toString('latin1'));
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        lines.push(line);
        socket.write(answer(line));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { address: `127.0.0.1:${port}`, lines, reads };
}

function client(address: string): MemcachedClient {
  const c = new MemcachedClient({ servers: [address], timeoutMs: 2000 });
  clients.push(c);
  return c;
}

const value = (key: string, data: string) => `VALUE ${key} 0 ${data.length}\r\n${data}\r\n`;

/** Answers gets from `store` the way memcached does: hits in key order, then END. */
function memcachedLike(store: Record<string, string>): (line: string) => string {
  return (line) => {
    const [verb, ...args] = line.split(' ');
    if (verb === 'get') return `${args.map((key) => (key in store ? value(key, store[key]!) : '')).join('')}END\r\n`;
    if (verb === 'incr') return `${Number(store[args[0]!] ?? 0) + Number(args[1])}\r\n`;
    return 'ERROR\r\n';
  };
}

describe('MemcachedClient: commands of one tick', () => {
  it('sends them in one write, gets next to each other as one multi-key get, and answers each get with its own item', async () => {
    const server = await scripted(memcachedLike({ a: '1', c: '3', d: '4' }));
    const c = client(server.address);
    await c.get('warm-up');
    server.reads.length = 0;
    server.lines.length = 0;

    const results = await Promise.all([c.get('a'), c.get('b'), c.get('c'), c.incr('n', 5), c.get('d')]);

    expect(results).toEqual([Buffer.from('1'), null, Buffer.from('3'), 5, Buffer.from('4')]);
    expect(server.lines).toEqual(['get a b c', 'incr n 5', 'get d']);
    expect(server.reads).toEqual(['get a b c\r\nincr n 5\r\nget d\r\n']);
  });

  it('pairs items by key when the peer answers them in another order, and the same key asked twice gets it twice', async () => {
    const server = await scripted((line) => (line === 'get a b a' ? `${value('b', '2')}${value('a', '1')}${value('a', '1')}END\r\n` : 'END\r\n'));
    const c = client(server.address);

    const results = await Promise.all([c.get('a'), c.get('b'), c.get('a')]);

    expect(results).toEqual([Buffer.from('1'), Buffer.from('2'), Buffer.from('1')]);
  });

  it('fails every get of a line whose reply carries a key it did not ask for, and carries on with a new connection', async () => {
    const server = await scripted((line) => (line.startsWith('get a') ? `${value('x', '9')}END\r\n` : 'END\r\n'));
    const c = client(server.address);

    const results = await Promise.allSettled([c.get('a'), c.get('b')]);

    for (const result of results) expect(result.status === 'rejected' && result.reason).toBeInstanceOf(CacheProtocolError);
    await expect(c.get('c')).resolves.toBeNull();
  });

  it('fails every get of a line answered by SERVER_ERROR and stays in step', async () => {
    const server = await scripted((line) => (line === 'get a b' ? 'SERVER_ERROR out of memory writing get response\r\n' : memcachedLike({ c: '3' })(line)));
    const c = client(server.address);

    const results = await Promise.allSettled([c.get('a'), c.get('b')]);

    for (const result of results) expect(result.status === 'rejected' && result.reason).toBeInstanceOf(CacheProtocolError);
    await expect(c.get('c')).resolves.toEqual(Buffer.from('3'));
  });

  it(`keeps a merged get line within ${MAX_MERGED_GET_LINE_BYTES} bytes`, async () => {
    const server = await scripted(memcachedLike({}));
    const c = client(server.address);
    const keys = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}:${'k'.repeat(60)}`);

    const results = await Promise.all(keys.map((key) => c.get(key)));

    expect(results).toEqual(keys.map(() => null));
    expect(server.lines.length).toBeGreaterThan(1);
    for (const line of server.lines) expect(line.length + 2).toBeLessThanOrEqual(MAX_MERGED_GET_LINE_BYTES);
    expect(server.lines.flatMap((line) => line.split(' ').slice(1))).toEqual(keys);
  });
});

describe('MemcachedClient.getMany', () => {
  it('reads many keys with one get line and answers in their order, misses as null', async () => {
    const server = await scripted(memcachedLike({ a: '1', c: '3' }));
    const c = client(server.address);
    await c.get('warm-up');
    server.lines.length = 0;

    await expect(c.getMany(['a', 'b', 'c', 'a'])).resolves.toEqual([Buffer.from('1'), null, Buffer.from('3'), Buffer.from('1')]);
    expect(server.lines).toEqual(['get a b c a']);
  });

  it('goes out in the same write as the tick’s other commands', async () => {
    const server = await scripted(memcachedLike({ a: '1', x: '7' }));
    const c = client(server.address);
    await c.get('warm-up');
    server.reads.length = 0;

    const [many, one] = await Promise.all([c.getMany(['a', 'b']), c.get('x')]);

    expect(many).toEqual([Buffer.from('1'), null]);
    expect(one).toEqual(Buffer.from('7'));
    expect(server.reads).toEqual(['get a b\r\nget x\r\n']);
  });

  it(`splits its keys into lines of at most ${MAX_MERGED_GET_LINE_BYTES} bytes`, async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}:${'k'.repeat(60)}`);
    const server = await scripted(memcachedLike({ [keys[3]!]: 'three', [keys[39]!]: 'last' }));
    const c = client(server.address);

    const values = await c.getMany(keys);

    expect(values[3]).toEqual(Buffer.from('three'));
    expect(values[39]).toEqual(Buffer.from('last'));
    expect(values.filter((v) => v !== null)).toHaveLength(2);
    expect(server.lines.length).toBeGreaterThan(1);
    for (const line of server.lines) expect(line.length + 2).toBeLessThanOrEqual(MAX_MERGED_GET_LINE_BYTES);
    expect(server.lines.flatMap((line) => line.split(' ').slice(1))).toEqual(keys);
  });

  it('fails when the reply carries a key it did not ask for', async () => {
    const server = await scripted((line) => (line.startsWith('get a') ? `${value('x', '9')}END\r\n` : 'END\r\n'));
    const c = client(server.address);

    await expect(c.getMany(['a', 'b'])).rejects.toBeInstanceOf(CacheProtocolError);
    await expect(c.get('c')).resolves.toBeNull();
  });

  it('refuses an invalid key before sending anything', async () => {
    const server = await scripted(memcachedLike({}));
    const c = client(server.address);

    await expect(c.getMany(['good', 'has space'])).rejects.toThrow(/cache key/);
    expect(server.lines).toEqual([]);
  });
});
