#!/usr/bin/env bash
# The full test suite: installs what is missing; then, through Nx (with its cache), type-checks,
# lints (module boundaries and type-aware rules), builds and unit-tests every project; then runs the
# integration tests against real servers; then checks the formatting. The last line adds up every test run:
# `tests: N passed, N failed, N skipped`.
set -uo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false

scripts/ensure-deps.sh || exit 1
rm -rf tmp/test-results
status=0
echo "== type check, lint, build and unit tests (every project)"
npx nx run-many -t typecheck lint build test --outputStyle=static || status=1
echo "== integration tests"
npx nx run tests:integration --outputStyle=static || status=1
echo "== format (Prettier)"
npx prettier --check . --log-level=warn || status=1
node scripts/test-summary.mjs tmp/test-results "$status"
