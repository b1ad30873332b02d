/**
 * Loaded into a Postern process with `--require` (NODE_OPTIONS, so a cluster's workers load it
 * too): on SIGUSR2 the process writes what it has loaded of Nest to
 * `$POSTERN_TEST_PROBE_DIR/<pid>.json`, for a test that a cluster primary loads none of it.
 * Two marks, either enough: a module under `@nestjs/` in the module cache, and `Reflect.getMetadata`
 * (reflect-metadata, which Nest loads first).
 */
'use strict';
const cluster = require('node:cluster');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.POSTERN_TEST_PROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    const report = {
      primary: cluster.isPrimary,
      nestModules: Object.keys(require.cache).filter((path) => path.includes('/@nestjs/')).length,
      reflectMetadata: typeof Reflect.getMetadata === 'function',
      rss: process.memoryUsage().rss,
    };
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(report));
  });
}
