#!/usr/bin/env bash
# Benchmarks: npm run bench:<name>. Installs what is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
npm run --silent build
exec npx tsx "test/bench/$1.bench.ts" "${@:2}"
