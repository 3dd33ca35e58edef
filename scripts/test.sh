#!/usr/bin/env bash
# The whole test suite: dependencies, typecheck, lint, then vitest against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json
npx eslint .
npx vitest run "$@"
