package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// latencyConfig is one steady-rate produce run.
type latencyConfig struct {
	topic          string
	partitions     int32
	recordBytes    int
	bytesPerSecond int64
	// warmup is produced at the same rate before the measured duration
	// and left out of the latencies: it pays for connecting, loading
	// metadata and the producer ID, once per client and not per record.
	warmup       time.Duration
	duration     time.Duration
	phaseTimeout time.Duration
}

// latencyResult is what a steady-rate produce run measured. Latencies are
// per record, from the Produce call to its acknowledgement, of the records
// sent after the warm-up.
type latencyResult struct {
	Nodes             int     `json:"nodes"`
	ReplicationFactor int16   `json:"replication_factor"`
	Partitions        int32   `json:"partitions"`
	RecordBytes       int     `json:"record_bytes"`
	TargetMBps        float64 `json:"target_mb_per_s"`
	WarmupSeconds     float64 `json:"warmup_seconds"`
	Seconds           float64 `json:"seconds"`
	Records           int     `json:"records"`
	// SentMBps is the rate the measured records were really handed to
	// Produce at; below TargetMBps when the client could not keep up
	// because too many records were waiting for acknowledgement.
	SentMBps float64 `json:"sent_mb_per_s"`
	// MaxBehindMs is the most a record was handed to Produce after its
	// scheduled time (sleep overshoot, a blocked Produce call).
	MaxBehindMs float64 `json:"max_behind_schedule_ms"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	Error       string  `json:"error,omitempty"`
}

// measureLatency creates cfg.topic and produces into it at a steady
// cfg.bytesPerSecond for cfg.warmup plus cfg.duration, with the same client
// settings as the throughput workload (acks=all, idempotent, no linger).
//
// The load is open: record i is due at start + i x (record size / rate),
// whether or not earlier records have been acknowledged, so a slow broker
// cannot slow the load down and hide its latency, and the number of records
// in flight follows the broker's latency (unlike the throughput workload's
// fixed window). Latency is taken from the Produce call, as Kafka's
// producer-perf-test takes it from send(); a client that falls behind its
// schedule shows in MaxBehindMs and SentMBps.
func measureLatency(ctx context.Context, t target, cfg latencyConfig) (latencyResult, error) {
	if err := createTopic(ctx, t, cfg.topic, cfg.partitions, cfg.phaseTimeout); err != nil {
		return latencyResult{}, err
	}
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return latencyResult{}, fmt.Errorf("create producer for %s: %w", t.name, err)
	}
	defer cl.Close()
	total := cfg.warmup + cfg.duration
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, total+cfg.phaseTimeout,
		fmt.Errorf("producing for %s took longer than that plus --phase-timeout %s", total, cfg.phaseTimeout))
	defer cancelTimeout()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	rate := float64(cfg.bytesPerSecond) / float64(cfg.recordBytes) // records per second
	warm := int(math.Round(rate * cfg.warmup.Seconds()))
	records := warm + int(math.Round(rate*cfg.duration.Seconds()))
	interval := float64(time.Second) / rate // between due times, in nanoseconds
	values := newValuePool(cfg.recordBytes)
	latencies := make([]time.Duration, records)
	ends := make([]atomic.Int64, cfg.partitions)
	var promises sync.WaitGroup
	var maxBehind time.Duration
	var firstMeasured, lastSent time.Time

	start := time.Now()
	for i := 0; i < records && ctx.Err() == nil; {
		due := start.Add(time.Duration(float64(i) * interval))
		sent := time.Now()
		if wait := due.Sub(sent); wait > 0 {
			// Short sleeps keep an interrupt prompt at low rates.
			time.Sleep(min(wait, 10*time.Millisecond))
			continue
		}
		if i >= warm {
			maxBehind = max(maxBehind, sent.Sub(due))
			if i == warm {
				firstMeasured = sent
			}
		}
		lastSent = sent
		n := i // i itself moves on before the promise runs
		promises.Add(1)
		rec := &kgo.Record{Topic: cfg.topic, Value: values.value(n)}
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			latencies[n] = time.Since(sent)
			if err != nil {
				fail(fmt.Errorf("produce record %d to %s on %s: %w", n, cfg.topic, t.name, err))
			} else if r.Partition >= 0 && int(r.Partition) < len(ends) {
				storeMax(&ends[r.Partition], r.Offset+1)
			}
			promises.Done()
		})
		i++
	}
	promises.Wait()
	if err := context.Cause(ctx); err != nil {
		return latencyResult{}, err
	}
	// A fresh topic and an idempotent producer: the end offsets add up to
	// exactly the records sent, or the broker lost or duplicated some.
	var stored int64
	for p := range ends {
		stored += ends[p].Load()
	}
	if stored != int64(records) {
		return latencyResult{}, fmt.Errorf("%s on %s ends at offsets adding up to %d, %d records were acknowledged", cfg.topic, t.name, stored, records)
	}

	measured := latencies[warm:]
	slices.Sort(measured)
	res := latencyResult{
		Nodes:             len(t.seeds),
		ReplicationFactor: t.replicationFactor,
		Partitions:        cfg.partitions,
		RecordBytes:       cfg.recordBytes,
		TargetMBps:        float64(cfg.bytesPerSecond) / 1e6,
		WarmupSeconds:     cfg.warmup.Seconds(),
		Seconds:           cfg.duration.Seconds(),
		Records:           len(measured),
		MaxBehindMs:       millis(maxBehind),
		P50Ms:             millis(percentile(measured, 50)),
		P99Ms:             millis(percentile(measured, 99)),
		P999Ms:            millis(percentile(measured, 99.9)),
	}
	if len(measured) > 0 {
		res.MaxMs = millis(measured[len(measured)-1])
	}
	// n records handed over at n-1 intervals after the first.
	if len(measured) > 1 {
		res.SentMBps = megabytesPerSecond(int64(len(measured)-1)*int64(cfg.recordBytes), lastSent.Sub(firstMeasured))
	}
	return res, nil
}
