// Prints the plain closing line `tests: N passed, N failed, N skipped` after a vitest run, so any
// reader of the log sees the totals in one place. With POSTERN_TEST_RESULTS set (Nx's test
// targets set it), the counts are also written there as JSON: `npm test` runs one vitest per
// project, some of them replayed from Nx's cache, and adds the files up for its last line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export default class SummaryReporter {
  onTestRunEnd(testModules) {
    let passed = 0,
      failed = 0,
      skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    const file = process.env.POSTERN_TEST_RESULTS;
    if (file) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ passed, failed, skipped }) + '\n');
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
