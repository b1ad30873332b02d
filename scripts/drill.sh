#!/usr/bin/env bash
# The cluster drill: npm run drill [-- options]. Installs what is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
npm run --silent build
exec npx tsx test/drill/main.ts "$@"
