#!/usr/bin/env bash
# Usage: soak.sh SAMSA_BINARY
# The fault suite's long mode: runs integration's TestFault* tests with
# SAMSA_SOAK=1 (the whole fault matrix, the paused-controller case five
# times, and TestFaultRandomSchedule: a 3-node cluster, an idempotent
# acks=all workload and a pseudo-random schedule of kill -9, clean
# shutdown, SIGSTOP, pause-then-kill, restart and network partition
# faults) SOAK_ROUNDS times, each with a fresh seed, and stops at the first
# failure, printing the seed that replays it.
#
#   SOAK_ROUNDS        schedules to run (default 5)
#   SAMSA_FAULT_STEPS  faults per schedule (default 40)
#   SAMSA_FAULT_SEED   replay one schedule (runs it once)
#   SAMSA_FAULT_LOGDIR where node logs of a failed round are kept (default: $TMPDIR)
set -u
bin=${1:?usage: soak.sh SAMSA_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
rounds=${SOAK_ROUNDS:-5}
steps=${SAMSA_FAULT_STEPS:-40}
if [ -n "${SAMSA_FAULT_SEED:-}" ]; then
	rounds=1
fi
for round in $(seq 1 "$rounds"); do
	seed=${SAMSA_FAULT_SEED:-$(( $(date +%s%N) % 9007199254740991 ))}
	echo "soak round $round/$rounds: SAMSA_FAULT_SEED=$seed SAMSA_FAULT_STEPS=$steps"
	# Each step takes up to ~15 s (fault, recovery, checks); allow twice
	# that, and ten minutes for the other tests.
	timeout=$(( steps * 30 + 600 ))s
	if ! SAMSA_SOAK=1 SAMSA_BIN="$bin" SAMSA_FAULT_SEED=$seed SAMSA_FAULT_STEPS=$steps \
		go test -count=1 -timeout "$timeout" -run '^TestFault' -v ./integration/; then
		echo "soak failed; replay: SAMSA_FAULT_SEED=$seed SAMSA_FAULT_STEPS=$steps make soak"
		exit 1
	fi
done
echo "soak passed: $rounds schedules of $steps faults"
