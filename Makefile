# samsa: a Kafka wire-protocol compatible broker.
GO ?= go
# Packages with goroutines and locks: always tested under the race detector.
RACE_PKGS = ./protocol/... ./replica/... ./log/... ./controller/... ./node/... ./handlers/... ./group/...

.PHONY: run build test vet race unit integration kcat bench fuzz clean cluster franz-suite soak

run:
	$(GO) run ./cmd/samsa

build:
	$(GO) build -o bin/samsa ./cmd/samsa

test: vet race unit integration kcat

vet:
	$(GO) vet ./...
	if [ -x ../shared/checks/layering.sh ]; then ../shared/checks/layering.sh; fi

race:
	$(GO) test -race -count=1 $(RACE_PKGS)

unit:
	$(GO) test -count=1 ./record/... ./config/... ./cmd/...

integration:
	$(GO) test -count=1 -timeout 10m ./integration/...

# kcat (librdkafka) round trip against a freshly started node; skipped
# loudly when kcat is not installed (.ci/run installs it).
kcat: build
	scripts/kcat-check.sh bin/samsa

# A 3-node cluster on one machine (see README).
cluster: build
	scripts/cluster.sh bin/samsa

bench:
	$(GO) run ./cmd/samsa-bench --json bench.json

# A short fuzz run of every decoder of network or disk bytes (go test
# -fuzz takes one target at a time); longer: make fuzz FUZZTIME=10m
FUZZTIME ?= 20s
FUZZ_TARGETS = record:FuzzValidate \
	protocol:FuzzParseRequestHeader protocol:FuzzDecodeRequest protocol:FuzzConnection \
	log:FuzzReadCheckpoint log:FuzzLoadSnapshot log:FuzzRecoverSegment \
	controller:FuzzDecodeRecords controller:FuzzReadLog
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) ./$$pkg/; \
	done

clean:
	rm -rf bin

# franz-go's own kgo integration suite against a node started here.
franz-suite: build
	scripts/franz-suite.sh bin/samsa

# The fault suite's long mode: random schedules of kill -9, shutdown, pause,
# restart and network partitions (integration/faults_test.go). Replay a
# failure: make soak SAMSA_FAULT_SEED=<seed> SAMSA_FAULT_STEPS=<steps>
soak: build
	scripts/soak.sh bin/samsa
