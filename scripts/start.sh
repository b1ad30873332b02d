#!/usr/bin/env bash
# The single-node stack: installs what is missing, builds, and runs everything on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
npm run --silent build
exec npx tsx scripts/stack.ts
