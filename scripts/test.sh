#!/usr/bin/env bash
# The full test suite: installs what is missing, then type-checks, lints (Nx module boundaries
# included), builds, and runs the unit and integration tests against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true

scripts/ensure-deps.sh
echo "== type check"
npx tsc -p tsconfig.json --noEmit
echo "== lint"
npx nx show projects >/dev/null  # the module-boundary rule reads the Nx project graph
npx eslint . --max-warnings=0
echo "== build"
npm run --silent build
echo "== tests"
npx vitest run --reporter=default --reporter=./test/summary-reporter.mjs
