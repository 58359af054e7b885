#!/usr/bin/env bash
# Usage: kcat-check.sh SAMSA_BINARY
# Starts one samsa node on free ports in a temporary data dir and drives it
# with kcat (librdkafka): metadata, produce with acks=all and idempotence
# under every codec, consume everything back exactly once, offset query.
# Uses ../shared/checks/kcat-roundtrip.sh when present, else the same steps
# below. Then librdkafka's balanced consumer (kcat -G): a group reads every
# record once and commits, and a second run of the group reads nothing.
# Skips loudly (exit 0) when kcat is not installed.
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

fail() { echo "FAIL kcat: $*"; tail -20 "$tmp/node.log"; exit 1; }

# group_check: a balanced consumer group reads a topic exactly once and
# commits its offsets on close (librdkafka's JoinGroup, SyncGroup,
# Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup).
group_check() {
  local G=kcat-group N=300
  seq 1 "$N" | sed 's/^/g-/' | kcat -b "$B" -P -t "$G" -X acks=all 2>"$tmp/gp" || fail "produce for the group: $(tail -1 "$tmp/gp")"
  timeout 60 kcat -b "$B" -G kcat-check-group -X auto.offset.reset=earliest -e -q -f '%s\n' "$G" >"$tmp/g1" 2>"$tmp/gc" \
    || fail "balanced consumer: $(tail -1 "$tmp/gc")"
  local got uniq
  got=$(wc -l <"$tmp/g1"); uniq=$(sort -u "$tmp/g1" | wc -l)
  [ "$uniq" = "$N" ] && [ "$got" = "$N" ] || fail "balanced consumer read $got records ($uniq distinct) of $N"
  timeout 60 kcat -b "$B" -G kcat-check-group -X auto.offset.reset=earliest -e -q -f '%s\n' "$G" >"$tmp/g2" 2>"$tmp/gc" \
    || fail "balanced consumer, second run: $(tail -1 "$tmp/gc")"
  [ ! -s "$tmp/g2" ] || fail "second run of the group read $(wc -l <"$tmp/g2") records: offsets not committed"
  echo "PASS kcat balanced consumer: $N messages once, offsets committed"
}

if [ -x ../shared/checks/kcat-roundtrip.sh ]; then
  ../shared/checks/kcat-roundtrip.sh "$B" || { tail -20 "$tmp/node.log"; exit 1; }
  group_check
  exit 0
fi

T=kcat-check; N=200; total=0
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
group_check
