package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func smallThroughput(topic string, records int, partitions int32) throughputConfig {
	return throughputConfig{
		topic: topic, records: records, recordBytes: 1024, partitions: partitions,
		producers: 2, maxInflight: 200, phaseTimeout: 10 * time.Second,
	}
}

func TestStartFailureReportsExitAndLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	bin := fakeSamsaBin(t)
	node, err := newBrokerNode(brokerSamsa, []string{bin}, t.TempDir(), 1, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	// A port it cannot listen on makes the stand-in exit at once, like a
	// samsa that rejects its config: the harness must say so promptly,
	// quoting the log.
	node.port = -1
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err = startAndProbe(ctx, node, "", time.Millisecond, 5*time.Second)
	if err == nil {
		t.Fatal("start succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "fake samsa") {
		t.Fatalf("error %q should report the exit and quote samsa's log", err)
	}
	if ctx.Err() != nil {
		t.Fatal("failure took until the deadline; want it reported as soon as the process exits")
	}
}
