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
		Throughput: &throughputReport{Ratios: &throughputRatios{ProduceMBps: 1.2, ConsumeMBps: 0.8}},
		Startup:    &startupResult{MedianMs: 40},
		IdleMemory: &idleMemoryResult{RSSBytes: 31e6},
		Recovery:   &recoveryResult{Error: "samsa exited"},
	}
	r.checkTargets()
	want := map[string]string{
		"produce throughput, RF=1 acks=all": "yes",
		"consume throughput":                "NO",
		"start-up to first Metadata":        "yes",
		"idle resident memory":              "NO",
		"recovery after kill -9":            "-",
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
	}
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
	if back.Throughput.Ratios.ProduceMBps != 0.5 || back.Recovery.ToFetchSeconds != 0.7 || len(back.Targets) != 5 {
		t.Fatalf("JSON lost results: %s", data)
	}
}
