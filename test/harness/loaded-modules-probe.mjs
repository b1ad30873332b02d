/**
 * Loaded into a Postern process with `--import` (NODE_OPTIONS, so a cluster's workers load it
 * too): on SIGUSR2 the process writes what it has loaded of Nest to
 * `$POSTERN_TEST_PROBE_DIR/<pid>.json`, for a test that a cluster primary loads none of it.
 * Two marks, either enough: a module under `@nestjs/` in the module cache, and `Reflect.getMetadata`
 * (reflect-metadata, which Nest loads first).
 */
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// The CommonJS module cache is one per process: any require's view of it is the whole of it.
const moduleCache = createRequire(import.meta.url).cache;
const dir = process.env.POSTERN_TEST_PROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    const report = {
      primary: cluster.isPrimary,
      nestModules: Object.keys(moduleCache).filter((path) => path.includes('/@nestjs/')).length,
      reflectMetadata: typeof Reflect.getMetadata === 'function',
      rss: process.memoryUsage().rss,
    };
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(report));
  });
}
