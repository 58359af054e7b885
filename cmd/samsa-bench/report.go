package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"
)

// Targets from the benchmark issue. They are reported, never asserted: a
// missed target is a finding, not a failed run.
const (
	targetStartupMs       = 100
	targetIdleRSSBytes    = 30e6
	targetRecoverySeconds = 3
	targetThroughputRatio = 1
	// RF=3 on three nodes against RF=1 on one, both acks=all.
	targetRF3Ratio     = 0.5
	targetLatencyP99Ms = 10
	// A latency is only the target's if the rate was held.
	latencyRateHeld = 0.95
)

// report is everything one benchmark run found; it is printed as a table
// and, with --json, written as is.
type report struct {
	StartedAt  time.Time         `json:"started_at"`
	Host       hostInfo          `json:"host"`
	Settings   *options          `json:"settings"`
	Throughput *throughputReport `json:"throughput,omitempty"`
	Startup    *startupResult    `json:"startup,omitempty"`
	IdleMemory *idleMemoryResult `json:"idle_memory,omitempty"`
	Recovery   *recoveryResult   `json:"recovery,omitempty"`
	LatencyRF3 *latencyResult    `json:"latency_rf3,omitempty"`
	Targets    []targetCheck     `json:"targets"`
}

type hostInfo struct {
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	// Load averages over 1, 5 and 15 minutes when the run started and
	// ended (Linux only): a busy machine makes every number noisy.
	LoadStart []float64 `json:"load_start,omitempty"`
	LoadEnd   []float64 `json:"load_end,omitempty"`
}

func currentHost() hostInfo {
	return hostInfo{
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		LoadStart: loadAverage(),
	}
}

// busy reports whether the machine was loaded beyond its CPU count at the
// start or end of the run.
func (h hostInfo) busy() bool {
	for _, load := range [][]float64{h.LoadStart, h.LoadEnd} {
		if len(load) > 0 && load[0] > float64(h.CPUs) {
			return true
		}
	}
	return false
}

// throughputReport holds every broker's throughput runs, in --brokers order,
// and those of samsa on a 3-node cluster (throughput-rf3).
type throughputReport struct {
	Brokers []*brokerThroughput `json:"brokers"`
	// Ratios divides samsa's medians by kfake's; nil unless both ran.
	Ratios *throughputRatios `json:"samsa_over_kfake,omitempty"`
	// SamsaRF3 is samsa on three nodes with RF 3 and
	// min.insync.replicas 2; nil unless throughput-rf3 ran.
	SamsaRF3 *brokerThroughput `json:"samsa_rf3,omitempty"`
	// RF3OverRF1 divides SamsaRF3's medians by single-node samsa's; nil
	// unless both ran in this invocation.
	RF3OverRF1 *throughputRatios `json:"samsa_rf3_over_rf1,omitempty"`
}

// brokerThroughput aggregates one broker's runs. Each field of Median and
// Best is aggregated on its own (Best takes the highest rates and the lowest
// latencies, which may come from different runs).
type brokerThroughput struct {
	Broker  string             `json:"broker"`
	Samples []throughputSample `json:"samples"`
	Median  *throughputSample  `json:"median,omitempty"`
	Best    *throughputSample  `json:"best,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// throughputRatios divide one series' medians by another's (samsa/kfake,
// samsa RF=3/RF=1): above 1 is better for rates, below 1 is better for
// latencies.
type throughputRatios struct {
	ProduceMBps  float64 `json:"produce_mb_per_s"`
	ProduceP50Ms float64 `json:"produce_p50_ms"`
	ProduceP99Ms float64 `json:"produce_p99_ms"`
	ConsumeMBps  float64 `json:"consume_mb_per_s"`
}

// targetCheck is one target of the issue against what was measured.
type targetCheck struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Met is nil when the workload did not run or failed.
	Met *bool `json:"met"`
}

func (b *brokerThroughput) summarize() {
	if len(b.Samples) == 0 {
		return
	}
	field := func(get func(throughputSample) float64) []float64 {
		xs := make([]float64, len(b.Samples))
		for i, s := range b.Samples {
			xs[i] = get(s)
		}
		return xs
	}
	produceMBps := field(func(s throughputSample) float64 { return s.ProduceMBps })
	p50 := field(func(s throughputSample) float64 { return s.ProduceP50Ms })
	p99 := field(func(s throughputSample) float64 { return s.ProduceP99Ms })
	consumeMBps := field(func(s throughputSample) float64 { return s.ConsumeMBps })
	produceSeconds := field(func(s throughputSample) float64 { return s.ProduceSeconds })
	consumeSeconds := field(func(s throughputSample) float64 { return s.ConsumeSeconds })

	first := b.Samples[0]
	b.Median = &throughputSample{
		Records: first.Records, Bytes: first.Bytes,
		ProduceSeconds: medianFloat(produceSeconds), ProduceMBps: medianFloat(produceMBps),
		ProduceP50Ms: medianFloat(p50), ProduceP99Ms: medianFloat(p99),
		ConsumeSeconds: medianFloat(consumeSeconds), ConsumeMBps: medianFloat(consumeMBps),
	}
	b.Best = &throughputSample{
		Records: first.Records, Bytes: first.Bytes,
		ProduceSeconds: slices.Min(produceSeconds), ProduceMBps: slices.Max(produceMBps),
		ProduceP50Ms: slices.Min(p50), ProduceP99Ms: slices.Min(p99),
		ConsumeSeconds: slices.Min(consumeSeconds), ConsumeMBps: slices.Max(consumeMBps),
	}
}

// broker returns the named broker's entry, or nil.
func (r *throughputReport) broker(name string) *brokerThroughput {
	for _, b := range r.Brokers {
		if b.Broker == name {
			return b
		}
	}
	return nil
}

// summarize computes every series' median and best, the samsa/kfake
// ratios of the medians and samsa's RF=3/RF=1 ratios.
func (r *throughputReport) summarize() {
	for _, b := range r.Brokers {
		b.summarize()
	}
	if r.SamsaRF3 != nil {
		r.SamsaRF3.summarize()
	}
	samsa := r.broker(brokerSamsa)
	r.Ratios = medianRatios(samsa, r.broker(brokerKfake))
	r.RF3OverRF1 = medianRatios(r.SamsaRF3, samsa)
}

// medianRatios divides a's medians by b's; nil unless both have samples.
func medianRatios(a, b *brokerThroughput) *throughputRatios {
	if a == nil || b == nil || a.Median == nil || b.Median == nil {
		return nil
	}
	x, y := a.Median, b.Median
	return &throughputRatios{
		ProduceMBps:  ratio(x.ProduceMBps, y.ProduceMBps),
		ProduceP50Ms: ratio(x.ProduceP50Ms, y.ProduceP50Ms),
		ProduceP99Ms: ratio(x.ProduceP99Ms, y.ProduceP99Ms),
		ConsumeMBps:  ratio(x.ConsumeMBps, y.ConsumeMBps),
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// checkTargets compares what ran against the targets.
func (r *report) checkTargets() {
	r.Targets = nil
	add := func(name, goal string, measured func() (string, bool, bool)) {
		c := targetCheck{Name: name, Goal: goal, Measured: "not measured"}
		if text, met, ok := measured(); ok {
			c.Measured, c.Met = text, &met
		}
		r.Targets = append(r.Targets, c)
	}
	add("produce throughput, RF=1 acks=all", fmt.Sprintf("samsa/kfake >= %d", targetThroughputRatio), func() (string, bool, bool) {
		if r.Throughput == nil || r.Throughput.Ratios == nil {
			return "", false, false
		}
		v := r.Throughput.Ratios.ProduceMBps
		return fmt.Sprintf("%.3fx", v), v >= targetThroughputRatio, true
	})
	add("consume throughput", fmt.Sprintf("samsa/kfake >= %d", targetThroughputRatio), func() (string, bool, bool) {
		if r.Throughput == nil || r.Throughput.Ratios == nil {
			return "", false, false
		}
		v := r.Throughput.Ratios.ConsumeMBps
		return fmt.Sprintf("%.3fx", v), v >= targetThroughputRatio, true
	})
	add("produce throughput, RF=3 acks=all, 3 nodes", fmt.Sprintf("RF=3/RF=1 >= %.1f", targetRF3Ratio), func() (string, bool, bool) {
		if r.Throughput == nil || r.Throughput.RF3OverRF1 == nil {
			return "", false, false
		}
		v := r.Throughput.RF3OverRF1.ProduceMBps
		return fmt.Sprintf("%.3fx (%.1f vs %.1f MB/s)", v, r.Throughput.SamsaRF3.Median.ProduceMBps, r.Throughput.broker(brokerSamsa).Median.ProduceMBps),
			v >= targetRF3Ratio, true
	})
	add("produce latency p99, RF=3 acks=all, steady rate", fmt.Sprintf("< %d ms", targetLatencyP99Ms), func() (string, bool, bool) {
		l := r.LatencyRF3
		if l == nil || l.Error != "" {
			return "", false, false
		}
		held := l.SentMBps >= latencyRateHeld*l.TargetMBps
		text := fmt.Sprintf("%.2f ms at %.1f MB/s", l.P99Ms, l.SentMBps)
		if !held {
			text += fmt.Sprintf(", short of %.1f MB/s", l.TargetMBps)
		}
		return text, held && l.P99Ms < targetLatencyP99Ms, true
	})
	add("start-up to first Metadata", fmt.Sprintf("< %d ms", targetStartupMs), func() (string, bool, bool) {
		if r.Startup == nil || r.Startup.Error != "" {
			return "", false, false
		}
		return fmt.Sprintf("%.1f ms", r.Startup.MedianMs), r.Startup.MedianMs < targetStartupMs, true
	})
	add("idle resident memory", fmt.Sprintf("< %.0f MB", targetIdleRSSBytes/1e6), func() (string, bool, bool) {
		if r.IdleMemory == nil || r.IdleMemory.Error != "" {
			return "", false, false
		}
		return fmt.Sprintf("%.1f MB", float64(r.IdleMemory.RSSBytes)/1e6), r.IdleMemory.RSSBytes < targetIdleRSSBytes, true
	})
	add("recovery after kill -9", fmt.Sprintf("< %d s to serve the last offset", targetRecoverySeconds), func() (string, bool, bool) {
		if r.Recovery == nil || r.Recovery.Error != "" {
			return "", false, false
		}
		return fmt.Sprintf("%.2f s (%.0f MB log)", r.Recovery.ToFetchSeconds, float64(r.Recovery.DataDirBytes)/1e6),
			r.Recovery.ToFetchSeconds < targetRecoverySeconds, true
	})
}

// failed reports whether any workload ended in an error.
func (r *report) failed() bool {
	if r.Throughput != nil {
		for _, b := range r.Throughput.Brokers {
			if b.Error != "" {
				return true
			}
		}
		if r.Throughput.SamsaRF3 != nil && r.Throughput.SamsaRF3.Error != "" {
			return true
		}
	}
	return (r.LatencyRF3 != nil && r.LatencyRF3.Error != "") ||
		(r.Startup != nil && r.Startup.Error != "") ||
		(r.IdleMemory != nil && r.IdleMemory.Error != "") ||
		(r.Recovery != nil && r.Recovery.Error != "")
}

// writeJSON writes r to path, indented so it can be read and quoted.
func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results to %s: %w", path, err)
	}
	return nil
}
