#!/usr/bin/env bash
# Usage: franz-suite.sh SAMSA_BINARY
# Starts one samsa node on 127.0.0.1:9092 with a fresh data dir and runs
# ../shared/checks/franz-suite.sh (franz-go's kgo integration tests) against it.
set -u
bin=${1:?usage: franz-suite.sh SAMSA_BINARY}
[ -x ../shared/checks/franz-suite.sh ] || { echo "../shared/checks/franz-suite.sh not found"; exit 2; }
tmp=$(mktemp -d)
"$bin" -c log.dirs="$tmp/data" >"$tmp/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; echo "node log: $tmp/node.log"' EXIT
sleep 1
../shared/checks/franz-suite.sh 127.0.0.1:9092 1
