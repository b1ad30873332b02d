// Adds up the per-run counts the summary reporter wrote (one file per vitest run, replayed ones
// included) and prints the closing line CI reads. A failed step that ran no test (type check,
// lint, build) still makes the line say `failed`: argv[3] is the suite's exit status so far.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, status] = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.json')) continue;
  const counts = JSON.parse(readFileSync(join(entry.parentPath, entry.name), 'utf8'));
  for (const key of Object.keys(totals)) totals[key] += counts[key] ?? 0;
}
if (status !== '0' && totals.failed === 0) totals.failed = 1;
process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(status === '0' && totals.failed === 0 ? 0 : 1);
