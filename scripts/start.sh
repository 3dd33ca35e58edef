#!/usr/bin/env bash
# `npm start`: builds when the sources changed (scripts/build.sh), then runs the compiled gateway.
# The bench starts the gateway through here too. V8's default young generation is kept:
# --max-semi-space-size=32 cut GC time by a fifth to two thirds in short runs at fixed load, but a
# full `npm run bench` with it showed no gain beyond this box's run-to-run spread (gateway 13,565
# msgs/s against 14,100–15,000 without), while 10,000 idle connections took ~55 s instead of ~35 s
# to give back what a connect storm left (settling at the same ~6 KB each). Pass it in
# CITYGW_NODE_ARGS to try it on other hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
# CITYGW_NODE_ARGS: extra node flags, e.g. `--cpu-prof` (which NODE_OPTIONS does not accept).
bash scripts/build.sh
# shellcheck disable=SC2086 # word splitting of CITYGW_NODE_ARGS is wanted
exec node --enable-source-maps ${CITYGW_NODE_ARGS:-} dist/cli/index.js start "$@"
