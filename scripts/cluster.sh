#!/usr/bin/env bash
# Usage: cluster.sh SAMSA_BINARY
# Runs a 3-node samsa cluster on one machine, every node broker and
# controller: brokers on 127.0.0.1:9092, :9094, :9096, controllers on
# :9093, :9095, :9097, data under /tmp/samsa-cluster/n1..n3. Ctrl-C stops all.
set -u
bin=${1:?usage: cluster.sh SAMSA_BINARY}
voters=1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097
pids=()
for i in 1 2 3; do
  b=$((9090 + 2*i)); c=$((b + 1))
  "$bin" -c node.id=$i -c process.roles=broker,controller \
    -c listeners=PLAINTEXT://127.0.0.1:$b,CONTROLLER://127.0.0.1:$c \
    -c advertised.listeners=PLAINTEXT://127.0.0.1:$b \
    -c controller.listener.names=CONTROLLER \
    -c controller.quorum.voters=$voters \
    -c default.replication.factor=3 -c offsets.topic.replication.factor=3 \
    -c log.dirs=/tmp/samsa-cluster/n$i 2>&1 | sed -u "s/^/[node $i] /" &
  pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null; wait' INT TERM
wait
