package main

import (
	"testing"
	"time"
)

func TestLatencyHoldsTheRateAgainstKfake(t *testing.T) {
	if testing.Short() {
		t.Skip("produces for half a second")
	}
	dep, err := startKfake(3)
	if err != nil {
		t.Fatal(err)
	}
	defer dep.Close()
	cfg := latencyConfig{
		topic: "steady", partitions: 3, recordBytes: 1024, bytesPerSecond: 2e6,
		warmup: 100 * time.Millisecond, duration: 400 * time.Millisecond, phaseTimeout: 10 * time.Second,
	}
	start := time.Now()
	got, err := measureLatency(t.Context(), dep.target(), cfg)
	if err != nil {
		t.Fatalf("measureLatency: %v", err)
	}
	// 2e6 B/s of 1 KiB records is 1953.125 records a second.
	if got.Records != 781 {
		t.Fatalf("%d records measured, want 781 (400 ms at 2 MB/s, warm-up excluded)", got.Records)
	}
	// The schedule is a floor: the last record is not due before the end.
	if elapsed := time.Since(start); elapsed < 500*time.Millisecond-time.Millisecond {
		t.Fatalf("done after %s, faster than the 500 ms the rate allows", elapsed)
	}
	// 781 records are 780 intervals of 1024 B / 2e6 B/s apart; a first
	// record sent late shortens the span by at most MaxBehindMs.
	span := 780*1024/2e6 - got.MaxBehindMs/1e3
	if limit := 780 * 1024 / 1e6 / span * 1.001; got.SentMBps <= 0 || got.SentMBps > limit {
		t.Fatalf("sent at %.3f MB/s (at most %.3f ms behind), want at most the 2 MB/s scheduled", got.SentMBps, got.MaxBehindMs)
	}
	if !(0 < got.P50Ms && got.P50Ms <= got.P99Ms && got.P99Ms <= got.P999Ms && got.P999Ms <= got.MaxMs) {
		t.Fatalf("latencies p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f ms: want 0 < p50 <= p99 <= p99.9 <= max",
			got.P50Ms, got.P99Ms, got.P999Ms, got.MaxMs)
	}
	if got.Nodes != 3 || got.ReplicationFactor != 3 || got.TargetMBps != 2 || got.Partitions != 3 {
		t.Fatalf("result %+v does not describe the run", got)
	}
}
