package main

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestThroughputAgainstKfake(t *testing.T) {
	if testing.Short() {
		t.Skip("produces and consumes 2,000 records")
	}
	dep, err := startKfake(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dep.Close()
	cfg := smallThroughput("throughput", 2000, 3)
	got, err := runThroughput(t.Context(), dep.target(), cfg)
	if err != nil {
		t.Fatalf("runThroughput: %v", err)
	}
	if got.Records != 2000 || got.Bytes != 2000*1024 {
		t.Fatalf("sample counts %d records, %d bytes; want 2000 and %d", got.Records, got.Bytes, 2000*1024)
	}
	if got.ProduceMBps <= 0 || got.ConsumeMBps <= 0 || got.ProduceSeconds <= 0 || got.ConsumeSeconds <= 0 {
		t.Fatalf("rates and times must be positive: %+v", got)
	}
	if got.ProduceP50Ms <= 0 || got.ProduceP50Ms > got.ProduceP99Ms {
		t.Fatalf("latency p50 %.3f ms, p99 %.3f ms: want 0 < p50 <= p99", got.ProduceP50Ms, got.ProduceP99Ms)
	}
}

func TestProduceSpreadsRecordsAndReportsEndOffsets(t *testing.T) {
	dep, err := startKfake(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dep.Close()
	cfg := smallThroughput("spread", 300, 3)
	if err := createTopic(t.Context(), dep.target(), cfg.topic, cfg.partitions, cfg.phaseTimeout); err != nil {
		t.Fatal(err)
	}
	out, err := produceRecords(t.Context(), dep.target(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, end := range out.endOffsets {
		total += end
	}
	if total != 300 {
		t.Fatalf("end offsets %v sum to %d, want the 300 records produced into a fresh topic", out.endOffsets, total)
	}
	if len(out.latencies) != 300 {
		t.Fatalf("%d latencies, want one per record", len(out.latencies))
	}
	for i := 1; i < len(out.latencies); i++ {
		if out.latencies[i] < out.latencies[i-1] {
			t.Fatal("latencies are not sorted")
		}
	}
}

func TestConsumeRejectsMissingRecords(t *testing.T) {
	dep, err := startKfake(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dep.Close()
	cfg := smallThroughput("short", 100, 1)
	if err := createTopic(t.Context(), dep.target(), cfg.topic, 1, cfg.phaseTimeout); err != nil {
		t.Fatal(err)
	}
	out, err := produceRecords(t.Context(), dep.target(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Claim more records than were produced, as a broker that acknowledged
	// writes it then lost would look.
	cfg.records = 150
	_, err = consumeRecords(t.Context(), dep.target(), cfg, out.endOffsets)
	if err == nil || !strings.Contains(err.Error(), "consumed 100 records") {
		t.Fatalf("err = %v, want a count mismatch", err)
	}
}

// blackHole accepts connections and never answers, like a broker that hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestBrokerFailuresEndTheRun(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		seed    string
		wantErr string
	}{
		{"nothing listening fails at once", "127.0.0.1:" + itoa(ports[0]), "connection refused"},
		{"a broker that never answers fails at the phase timeout", blackHole(t), "--phase-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt := target{name: "broken", seeds: []string{tt.seed}, replicationFactor: 1}
			cfg := smallThroughput("unreachable", 10, 1)
			cfg.phaseTimeout = 300 * time.Millisecond
			start := time.Now()
			_, err := runThroughput(t.Context(), tgt, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Fatalf("gave up after %s, want at most about the 300 ms phase timeout", elapsed)
			}
		})
	}
}

func TestValuePool(t *testing.T) {
	pool := newValuePool(1024)
	first := pool.value(0)
	if len(first) != 1024 || cap(first) != 1024 {
		t.Fatalf("value len %d cap %d, want 1024 and 1024 (no room to append into the pool)", len(first), cap(first))
	}
	// No two records of a full 1 MB batch may share a value, or snappy
	// would compress what real data would not.
	seen := make(map[string]int)
	for i := range 1000 {
		v := string(pool.value(i))
		if j, dup := seen[v]; dup {
			t.Fatalf("records %d and %d share a value", j, i)
		}
		seen[v] = i
	}
	if !bytes.Equal(newValuePool(1024).value(7), pool.value(7)) {
		t.Fatal("values differ between pools: both brokers must get the same bytes")
	}
}
