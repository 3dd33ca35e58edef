#!/usr/bin/env bash
# Builds the crew console (console/ → console/dist, served by the gateway at `/`): the page, its
# service worker (/sw.js), manifest and icons, when it is missing or older than its sources;
# `--force` always builds. Type-checks the page and the worker first.
set -euo pipefail
cd "$(dirname "$0")/.."
# One build at a time (test files build in parallel): a second waits, then finds it done.
exec 9>"${TMPDIR:-/tmp}/citygw-build-console-$(pwd | cksum | cut -d' ' -f1).lock"
flock 9
if [ "${1:-}" != "--force" ] && [ -f console/dist/index.html ] \
  && [ -z "$(find console/src console/sw console/public console/index.html console/tsconfig.json vite.console.config.ts -newer console/dist/index.html 2>/dev/null | head -1)" ]; then
  exit 0
fi
echo "build-console: building console/dist" >&2
npx tsc -p console/tsconfig.json >&2
npx tsc -p console/sw/tsconfig.json >&2
npx vite build --config vite.console.config.ts >&2
