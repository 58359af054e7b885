package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func sample(produce, p50, p99, consume float64) throughputSample {
	return throughputSample{Records: 10, Bytes: 10240, ProduceSeconds: 1, ProduceMBps: produce,
		ProduceP50Ms: p50, ProduceP99Ms: p99, ConsumeSeconds: 1, ConsumeMBps: consume}
}

func TestThroughputSummaryAndRatios(t *testing.T) {
	rep := &throughputReport{Brokers: []*brokerThroughput{
		{Broker: brokerKfake, Samples: []throughputSample{sample(100, 2, 10, 200), sample(120, 1, 30, 100), sample(80, 3, 20, 300)}},
		{Broker: brokerSamsa, Samples: []throughputSample{sample(150, 1, 5, 400)}},
	}}
	rep.summarize()
	kfake := rep.broker(brokerKfake)
	if m := kfake.Median; m.ProduceMBps != 100 || m.ProduceP50Ms != 2 || m.ProduceP99Ms != 20 || m.ConsumeMBps != 200 {
		t.Fatalf("kfake median %+v, want each field's own median", m)
	}
	if b := kfake.Best; b.ProduceMBps != 120 || b.ProduceP50Ms != 1 || b.ProduceP99Ms != 10 || b.ConsumeMBps != 300 {
		t.Fatalf("kfake best %+v, want the highest rates and lowest latencies", b)
	}
	want := throughputRatios{ProduceMBps: 1.5, ProduceP50Ms: 0.5, ProduceP99Ms: 0.25, ConsumeMBps: 2}
	if rep.Ratios == nil || *rep.Ratios != want {
		t.Fatalf("ratios %+v, want %+v", rep.Ratios, want)
	}
}

func TestRF3OverRF1Ratios(t *testing.T) {
	tests := []struct {
		name string
		rep  *throughputReport
		want *throughputRatios
	}{
		{
			name: "both ran",
			rep: &throughputReport{
				Brokers:  []*brokerThroughput{{Broker: brokerSamsa, Samples: []throughputSample{sample(200, 2, 10, 400)}}},
				SamsaRF3: &brokerThroughput{Broker: brokerSamsa, Samples: []throughputSample{sample(100, 4, 40, 300), sample(120, 6, 30, 200)}},
			},
			want: &throughputRatios{ProduceMBps: 0.55, ProduceP50Ms: 2.5, ProduceP99Ms: 3.5, ConsumeMBps: 0.625},
		},
		{
			name: "throughput-rf3 alone",
			rep:  &throughputReport{SamsaRF3: &brokerThroughput{Broker: brokerSamsa, Samples: []throughputSample{sample(100, 4, 40, 300)}}},
		},
		{
			name: "the cluster failed",
			rep: &throughputReport{
				Brokers:  []*brokerThroughput{{Broker: brokerSamsa, Samples: []throughputSample{sample(200, 2, 10, 400)}}},
				SamsaRF3: &brokerThroughput{Broker: brokerSamsa, Error: "start samsa node 3 of 3: exited"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rep.summarize()
			got := tt.rep.RF3OverRF1
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("RF=3/RF=1 ratios %+v, want %+v", got, tt.want)
			}
			if tt.rep.Ratios != nil {
				t.Fatalf("samsa/kfake ratios %+v without kfake", tt.rep.Ratios)
			}
		})
	}
}

func TestNoRatiosWhenABrokerFailed(t *testing.T) {
	rep := &throughputReport{Brokers: []*brokerThroughput{
		{Broker: brokerKfake, Samples: []throughputSample{sample(100, 2, 10, 200)}},
		{Broker: brokerSamsa, Error: "build samsa: no Go files"},
	}}
	rep.summarize()
	if rep.Ratios != nil {
		t.Fatalf("ratios %+v computed without samsa samples", rep.Ratios)
	}
}

func TestCheckTargets(t *testing.T) {
	r := &report{
		Throughput: &throughputReport{
			Brokers:    []*brokerThroughput{{Broker: brokerSamsa, Median: &throughputSample{ProduceMBps: 200}}},
			Ratios:     &throughputRatios{ProduceMBps: 1.2, ConsumeMBps: 0.8},
			SamsaRF3:   &brokerThroughput{Broker: brokerSamsa, Median: &throughputSample{ProduceMBps: 90}},
			RF3OverRF1: &throughputRatios{ProduceMBps: 0.45},
		},
		// p99 within the target, but at a rate short of the one asked.
		LatencyRF3: &latencyResult{TargetMBps: 20, SentMBps: 15, P99Ms: 4},
		Startup:    &startupResult{MedianMs: 40},
		IdleMemory: &idleMemoryResult{RSSBytes: 31e6},
		Recovery:   &recoveryResult{Error: "samsa exited"},
	}
	r.checkTargets()
	want := map[string]string{
		"produce throughput, RF=1 acks=all":               "yes",
		"consume throughput":                              "NO",
		"produce throughput, RF=3 acks=all, 3 nodes":      "NO",
		"produce latency p99, RF=3 acks=all, steady rate": "NO",
		"start-up to first Metadata":                      "yes",
		"idle resident memory":                            "NO",
		"recovery after kill -9":                          "-",
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(want))
	}
	for _, c := range r.Targets {
		got := "-"
		if c.Met != nil {
			got = map[bool]string{true: "yes", false: "NO"}[*c.Met]
		}
		if got != want[c.Name] {
			t.Errorf("target %q met = %s, want %s (measured %s)", c.Name, got, want[c.Name], c.Measured)
		}
	}
	if !r.failed() {
		t.Error("a workload error must make the run fail")
	}

	r.LatencyRF3.SentMBps = 19.9
	r.checkTargets()
	if c := r.Targets[3]; c.Met == nil || !*c.Met || c.Measured != "4.00 ms at 19.9 MB/s" {
		t.Errorf("latency target %+v: want met with the rate held", c)
	}
}

func TestReportPrintsAndRoundTripsAsJSON(t *testing.T) {
	opts, err := parseOptions([]string{"--runs", "2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &report{
		Host:     hostInfo{GoVersion: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, LoadStart: []float64{9, 1, 1}, LoadEnd: []float64{1, 1, 1}},
		Settings: opts,
		Throughput: &throughputReport{Brokers: []*brokerThroughput{
			{Broker: brokerKfake, Samples: []throughputSample{sample(100, 2, 10, 200), sample(100, 2, 10, 200)}},
			{Broker: brokerSamsa, Samples: []throughputSample{sample(50, 4, 20, 400), sample(50, 4, 20, 400)}},
		}},
		Startup:    &startupResult{SamplesMs: []float64{30, 31, 29}, MedianMs: 30, DataDirBytes: 205e6},
		IdleMemory: &idleMemoryResult{RSSBytes: 20e6, IdleSeconds: 2},
		Recovery:   &recoveryResult{DataDirBytes: 1.07e9, ToMetadataSeconds: 0.5, ToFetchSeconds: 0.7},
		LatencyRF3: &latencyResult{Nodes: 3, ReplicationFactor: 3, Partitions: 6, RecordBytes: 1024, TargetMBps: 20,
			WarmupSeconds: 1, Seconds: 20, Records: 390625, SentMBps: 20, MaxBehindMs: 0.8,
			P50Ms: 1.5, P99Ms: 6.25, P999Ms: 9.5, MaxMs: 30},
	}
	r.Throughput.SamsaRF3 = &brokerThroughput{Broker: brokerSamsa,
		Samples: []throughputSample{sample(30, 8, 40, 300), sample(30, 8, 40, 300)}}
	r.Throughput.summarize()
	r.checkTargets()

	var out strings.Builder
	if err := printReport(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"WARNING: the machine was busier",
		"kfake (median)", "samsa (best)", "samsa/kfake", "0.50x", "2.00x",
		"median 30.0 ms of 5 starts (30.0, 31.0, 29.0 ms)",
		"20.0 MB after 2.0 s idle",
		"last offset served after 0.700 s",
		"recovery after kill -9",
		"samsa RF=3 (median)", "samsa RF=3/RF=1", "0.60x",
		"20.0 MB/s of 1024 B records into 6 partitions for 20 s after a 1 s warm-up: 390625 records",
		"p50 1.50 ms, p99 6.25 ms, p99.9 9.50 ms, max 30.00 ms",
		"0.600x (30.0 vs 50.0 MB/s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, out.String())
		}
	}

	path := filepath.Join(t.TempDir(), "out.json")
	if err := r.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("JSON does not decode: %v", err)
	}
	if back.Throughput.Ratios.ProduceMBps != 0.5 || back.Recovery.ToFetchSeconds != 0.7 || len(back.Targets) != 7 ||
		back.Throughput.RF3OverRF1.ProduceMBps != 0.6 || back.LatencyRF3.P999Ms != 9.5 {
		t.Fatalf("JSON lost results: %s", data)
	}
}
