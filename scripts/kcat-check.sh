#!/usr/bin/env bash
# Usage: kcat-check.sh SAMSA_BINARY
# Starts one samsa node on free ports in a temporary data dir and drives it
# with kcat (librdkafka): metadata, produce with acks=all and idempotence
# under every codec, consume everything back exactly once, offset query.
# Uses ../shared/checks/kcat-roundtrip.sh when present, else the same steps
# below. Skips loudly (exit 0) when kcat is not installed.
set -u
bin=${1:?usage: kcat-check.sh SAMSA_BINARY}
if ! command -v kcat >/dev/null; then
  echo "SKIP kcat check: kcat is not installed (apt-get install -y kcat); .ci/run installs it"
  exit 0
fi
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 39192)
cport=$((port+1))
"$bin" -c node.id=1 -c process.roles=broker,controller \
  -c listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport \
  -c advertised.listeners=PLAINTEXT://127.0.0.1:$port -c controller.listener.names=CONTROLLER \
  -c controller.quorum.voters=1@127.0.0.1:$cport -c log.dirs="$tmp/data" >"$tmp/node.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
B=127.0.0.1:$port
for _ in $(seq 1 100); do kcat -b "$B" -L -m 1 >/dev/null 2>&1 && break; sleep 0.1; done

if [ -x ../shared/checks/kcat-roundtrip.sh ]; then
  ../shared/checks/kcat-roundtrip.sh "$B" || { tail -20 "$tmp/node.log"; exit 1; }
  exit 0
fi

T=kcat-check; N=200; total=0
fail() { echo "FAIL kcat: $*"; tail -20 "$tmp/node.log"; exit 1; }
for z in none gzip snappy lz4 zstd; do
  seq 1 "$N" | sed "s/^/$z-/" | kcat -b "$B" -P -t "$T" -X acks=all -X enable.idempotence=true -z "$z" 2>"$tmp/p" || fail "produce $z: $(tail -1 "$tmp/p")"
  grep -q "does not support compression" "$tmp/p" && fail "librdkafka fell back to no compression for $z"
  total=$((total+N))
done
timeout 60 kcat -b "$B" -C -t "$T" -o beginning -e -q >"$tmp/all" 2>"$tmp/c"
got=$(wc -l <"$tmp/all"); uniq=$(sort -u "$tmp/all" | wc -l)
[ "$uniq" = "$total" ] || fail "consumed $uniq distinct of $total"
[ "$got" = "$total" ] || fail "consumed $got records for $total produced"
kcat -b "$B" -Q -t "$T:0:-1" >/dev/null 2>&1 || fail "offset query"
echo "PASS kcat: $total messages, 5 codecs, metadata and offsets query"
