#!/usr/bin/env bash
# `npm start`: builds when the sources changed (scripts/build.sh), then runs the compiled gateway.
# The bench starts the gateway through here too. V8's default young generation is kept on purpose:
# --max-semi-space-size=32 cut GC time by a fifth to two thirds and raised closed-loop throughput
# 5–10 % in `npm run bench`, but the gateway then holds 32 MB more young generation under load and,
# after a storm of 10,000 connects, kept its peak RSS (19 KB per connection) for ~50 s instead of
# ~30 s before settling at the same 6 KB. Set it with CITYGW_NODE_ARGS where throughput matters more.
set -euo pipefail
cd "$(dirname "$0")/.."
# CITYGW_NODE_ARGS: extra node flags, e.g. `--cpu-prof` (which NODE_OPTIONS does not accept).
bash scripts/build.sh
# shellcheck disable=SC2086 # word splitting of CITYGW_NODE_ARGS is wanted
exec node --enable-source-maps ${CITYGW_NODE_ARGS:-} dist/broker/cli.js start "$@"
