import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileOutput, type DropReason } from './file-output';

/** A file in a directory of its own, removed after the test, and its descriptor (`flags`: open's). */
function scratchFile(flags = 'a'): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-file-output-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'out');
  writeFileSync(path, '');
  const fd = openSync(path, flags);
  onTestFinished(() => closeSync(fd));
  return { path, fd };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('FileOutput', () => {
  it('writes after the turn, off the event loop, every line in order across many writes; close resolves once all are written', async () => {
    const { path, fd } = scratchFile();
    const output = new FileOutput(fd);
    output.write('first\n');
    expect(readFileSync(path, 'utf8')).toBe('');
    const expected = ['first'];
    // Turns of lines while writes are in flight: each write carries what came meanwhile.
    for (let turn = 0; turn < 50; turn++) {
      for (let i = 0; i < 200; i++) {
        const line = `t${turn}-${i}`;
        expect(output.write(`${line}\n`)).toBe(true);
        expected.push(line);
      }
      await nextTurn();
    }
    await output.close();
    expect(readFileSync(path, 'utf8').split('\n').slice(0, -1)).toEqual(expected);
  });

  it('drops and counts the lines beyond its bound while the disk is behind, and writes the rest in order', async () => {
    const { path, fd } = scratchFile();
    const drops: [number, DropReason][] = [];
    const output = new FileOutput(fd, { maxHeldBytes: 20, onDrop: (lines, reason) => void drops.push([lines, reason]) });
    output.write('a\n');
    // The write of `a` has started and cannot have ended within this turn: the next lines wait behind it.
    await nextTurn();
    const taken = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm'].filter((line) => output.write(`${line}1234\n`));
    expect(taken).toEqual(['b', 'c', 'd']);
    expect(output.held).toBe(18);
    expect(drops).toEqual(Array.from({ length: 9 }, () => [1, 'behind']));
    await output.close();
    expect(readFileSync(path, 'utf8')).toBe('a\nb1234\nc1234\nd1234\n');
    // Caught up: lines are taken again.
    expect(output.held).toBe(0);
  });

  it('counts the lines of a write that fails, and still closes', async () => {
    const { fd } = scratchFile('r');
    const drops: [number, DropReason, string | undefined][] = [];
    const output = new FileOutput(fd, { onDrop: (lines, reason, code) => void drops.push([lines, reason, code]) });
    output.write('one\n');
    output.write('two\n');
    await output.close();
    expect(drops).toEqual([[2, 'error', 'EBADF']]);
  });

  it('takes no line once closing', async () => {
    const { path, fd } = scratchFile();
    const output = new FileOutput(fd);
    output.write('kept\n');
    const closed = output.close();
    expect(output.write('late\n')).toBe(false);
    await closed;
    expect(readFileSync(path, 'utf8')).toBe('kept\n');
  });

  it('abandoned while the disk takes nothing (a pipe nobody reads), drops and counts what waits, and close resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-file-output-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'stuck');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const fd = openSync(fifo, 'a');
    const drops: [number, DropReason][] = [];
    const output = new FileOutput(fd, { onDrop: (lines, reason) => void drops.push([lines, reason]) });
    // More than a pipe holds: the first write blocks in its thread, the next lines wait behind it.
    output.write(`${'x'.repeat(256 * 1024)}\n`);
    await nextTurn();
    output.write('waiting 1\n');
    output.write('waiting 2\n');
    const closed = output.close();
    output.abandon();
    await closed;
    expect(drops).toEqual([[2, 'behind']]);
    // The reader gone, the blocked write returns; the rest of its line is not written after it, but counted.
    closeSync(reader);
    await vi.waitFor(() => expect(drops).toHaveLength(2));
    expect(drops[1]![0]).toBe(1);
    closeSync(fd);
  });

  it('abandoned, writes nothing at exit', () => {
    const { path } = scratchFile();
    const script = join(path, '..', 'abandon.ts');
    writeFileSync(
      script,
      [
        `import { openSync } from 'node:fs';`,
        `import { FileOutput } from ${JSON.stringify(join(__dirname, 'file-output.ts'))};`,
        `const output = new FileOutput(openSync(${JSON.stringify(path)}, 'a'));`,
        `output.write('dropped\\n');`,
        'output.abandon();',
        'process.exit(0);',
      ].join('\n'),
    );
    execFileSync(process.execPath, ['--import', 'tsx', script], { stdio: 'pipe' });
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('at an exit that did not close it, writes what is waiting', () => {
    const { path } = scratchFile();
    const script = join(path, '..', 'exit.ts');
    writeFileSync(
      script,
      [
        `import { openSync } from 'node:fs';`,
        `import { FileOutput } from ${JSON.stringify(join(__dirname, 'file-output.ts'))};`,
        `const output = new FileOutput(openSync(${JSON.stringify(path)}, 'a'));`,
        `for (let i = 0; i < 1000; i++) output.write('line ' + i + '\\n');`,
        'process.exit(0);',
      ].join('\n'),
    );
    execFileSync(process.execPath, ['--import', 'tsx', script], { stdio: 'pipe' });
    const lines = readFileSync(path, 'utf8').split('\n').slice(0, -1);
    expect(lines).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`));
  });
});

describe('FileOutput with a buffer', () => {
  it('gathers lines until the buffer is full or its time is up, and close writes what waits at once', async () => {
    const { path, fd } = scratchFile();
    const output = new FileOutput(fd, { buffer: { bytes: 64, flushMs: 60_000 } });
    output.write('one\n');
    await nextTurn();
    await nextTurn();
    // Neither full nor due: nothing written yet.
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(output.held).toBe(4);
    // Full: the write starts after this turn, with every line held.
    output.write(`${'x'.repeat(60)}\n`);
    await vi.waitFor(() => expect(readFileSync(path, 'utf8')).toBe(`one\n${'x'.repeat(60)}\n`));
    output.write('last\n');
    await nextTurn();
    expect(readFileSync(path, 'utf8')).not.toContain('last');
    await output.close();
    expect(readFileSync(path, 'utf8')).toBe(`one\n${'x'.repeat(60)}\nlast\n`);
  });

  it('writes what came within flushMs once that time is up', async () => {
    const { path, fd } = scratchFile();
    const output = new FileOutput(fd, { buffer: { bytes: 64 * 1024, flushMs: 20 } });
    const started = performance.now();
    output.write('a\n');
    output.write('b\n');
    await vi.waitFor(() => expect(readFileSync(path, 'utf8')).toBe('a\nb\n'));
    // Not before its time (the timer's own slack aside).
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    await output.close();
  });
});
