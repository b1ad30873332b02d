import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepTickShapes } from './tick-shapes';

describe('keepTickShapes', () => {
  it('holds one tick object, the same on every call, and its hook is off after it', () => {
    const kept = keepTickShapes() as { callback?: unknown };
    expect(typeof kept.callback).toBe('function');
    expect(Object.getOwnPropertySymbols(kept)).toHaveLength(2);
    process.nextTick(() => undefined);
    expect(keepTickShapes()).toBe(kept);
  });

  it('keeps the map that tick objects get, through full GCs while no other tick is alive', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tick-shapes-'));
    const script = join(dir, 'probe.ts');
    writeFileSync(
      script,
      [
        `import { createHook } from 'node:async_hooks';`,
        `import { keepTickShapes } from ${JSON.stringify(join(__dirname, 'tick-shapes.ts'))};`,
        'const kept = keepTickShapes();',
        'for (let i = 0; i < 20000; i++) process.nextTick(() => undefined);',
        'setTimeout(() => {',
        '  for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc!();',
        '  let fresh: object | undefined;',
        "  const hook = createHook({ init(_id, type, _t, resource) { if (type === 'TickObject') fresh ??= resource as object; } });",
        '  hook.enable();',
        '  process.nextTick(() => undefined);',
        '  hook.disable();',
        "  const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;",
        '  process.stdout.write(String(sameMap(kept, fresh)));',
        '}, 50);',
      ].join('\n'),
    );
    let out: string;
    try {
      out = execFileSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--import', 'tsx', script], { encoding: 'utf8' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(out).toBe('true');
  });
});
