#!/usr/bin/env bash
# `npm start`: builds when the sources changed (scripts/build.sh), then runs the compiled gateway.
# The bench starts the gateway through here too. --max-semi-space-size=64 (V8's young generation,
# MB per semi-space): at full load nearly every object of a message lives until its group commit's
# fdatasync, so with the default young generation scavenges copied them and promoted many to the old
# generation. In `npm run bench` runs back to back on a 2-core box it raised the gateway from
# 48,700–49,100 to 57,600–57,800 acknowledged readings/s (CPU per reading 21–22 → 16 µs) for ~60 MB
# more RSS under load; 32 gave nothing measurable and 128 less than 64. The price: 128 MB of young
# generation committed once load comes (the bench's outage phase shows it unchanged through an
# outage: that phase's growth is elsewhere). Pass `--max-semi-space-size=16` in CITYGW_NODE_ARGS
# where memory matters more than throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
# CITYGW_NODE_ARGS: extra node flags, e.g. `--cpu-prof` (which NODE_OPTIONS does not accept).
bash scripts/build.sh
# Every MQTT connection is a file descriptor: use what the hard limit allows. The gateway caps its
# connections at the soft limit minus a reserve and says so at start when that is below MAX_CONNECTIONS.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC2086 # word splitting of CITYGW_NODE_ARGS is wanted
exec node --enable-source-maps --max-semi-space-size=64 ${CITYGW_NODE_ARGS:-} dist/cli/index.js start "$@"
