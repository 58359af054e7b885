package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// throughputConfig is one produce-then-consume run.
type throughputConfig struct {
	topic        string
	records      int
	recordBytes  int
	partitions   int32
	producers    int
	maxInflight  int
	phaseTimeout time.Duration
}

// throughputSample is what one run measured. Byte rates count record values
// only (no keys, headers or protocol framing), in decimal MB/s.
type throughputSample struct {
	Records        int     `json:"records"`
	Bytes          int64   `json:"bytes"`
	ProduceSeconds float64 `json:"produce_seconds"`
	ProduceMBps    float64 `json:"produce_mb_per_s"`
	ProduceP50Ms   float64 `json:"produce_p50_ms"`
	ProduceP99Ms   float64 `json:"produce_p99_ms"`
	ConsumeSeconds float64 `json:"consume_seconds"`
	ConsumeMBps    float64 `json:"consume_mb_per_s"`
}

// clientOpts are the kgo settings every workload uses for every broker:
// kgo's defaults (acks=all, idempotent, one produce request in flight per
// broker, snappy when it helps) except linger, which is 0. With a bounded
// number of records in flight, batches rarely fill, so kgo's default 10 ms
// linger would hold nearly every batch for the full 10 ms and the run would
// measure that timer, not the broker. Without linger, records still batch
// while the previous produce request is in flight, so the batch size
// follows the broker's speed.
func clientOpts(t target) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(t.seeds...), kgo.ClientID("samsa-bench"), kgo.ProducerLinger(0)}
}

// runThroughput creates cfg.topic, produces cfg.records records into it and
// consumes them all back from the start with a fresh client.
func runThroughput(ctx context.Context, t target, cfg throughputConfig) (throughputSample, error) {
	if err := createTopic(ctx, t, cfg.topic, cfg.partitions, cfg.phaseTimeout); err != nil {
		return throughputSample{}, err
	}
	produced, err := produceRecords(ctx, t, cfg)
	if err != nil {
		return throughputSample{}, err
	}
	consumeElapsed, err := consumeRecords(ctx, t, cfg, produced.endOffsets)
	if err != nil {
		return throughputSample{}, err
	}
	total := int64(cfg.records) * int64(cfg.recordBytes)
	return throughputSample{
		Records:        cfg.records,
		Bytes:          total,
		ProduceSeconds: produced.elapsed.Seconds(),
		ProduceMBps:    megabytesPerSecond(total, produced.elapsed),
		ProduceP50Ms:   millis(percentile(produced.latencies, 50)),
		ProduceP99Ms:   millis(percentile(produced.latencies, 99)),
		ConsumeSeconds: consumeElapsed.Seconds(),
		ConsumeMBps:    megabytesPerSecond(total, consumeElapsed),
	}, nil
}

// createTopic creates topic with t's replication factor and waits until
// every partition has a leader, so the producer never meets a topic that
// exists on the controller but not yet on the broker.
func createTopic(ctx context.Context, t target, topic string, partitions int32, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("topic %s not ready within --phase-timeout %s", topic, timeout))
	defer cancel()
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return fmt.Errorf("create admin client for %s: %w", t.name, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, t.replicationFactor, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s (%d partitions, RF %d) on %s: %w", topic, partitions, t.replicationFactor, t.name, ctxErrOr(ctx, err))
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil && topicLed(md, topic, partitions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topic %s on %s: %w", topic, t.name, context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func topicLed(md kadm.Metadata, topic string, partitions int32) bool {
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil || int32(len(td.Partitions)) != partitions {
		return false
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// produced is the outcome of produceRecords.
type produced struct {
	elapsed    time.Duration
	latencies  []time.Duration // per record, Produce call to promise, ascending
	endOffsets map[int32]int64 // partition -> offset after its last record
}

// produceRecords produces cfg.records records of cfg.recordBytes bytes from
// cfg.producers goroutines, never more than cfg.maxInflight unacknowledged.
// Bounding what is in flight keeps the measured latency that of the broker
// and not of an ever-growing client buffer: by Little's law the mean latency
// is about maxInflight divided by the record rate.
func produceRecords(ctx context.Context, t target, cfg throughputConfig) (produced, error) {
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return produced{}, fmt.Errorf("create producer for %s: %w", t.name, err)
	}
	defer cl.Close()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, cfg.phaseTimeout,
		fmt.Errorf("producing %d records took longer than --phase-timeout %s", cfg.records, cfg.phaseTimeout))
	defer cancelTimeout()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	values := newValuePool(cfg.recordBytes)
	latencies := make([]time.Duration, cfg.records)
	ends := make([]atomic.Int64, cfg.partitions)
	inflight := make(chan struct{}, cfg.maxInflight)
	var next atomic.Int64
	var promises, producers sync.WaitGroup

	start := time.Now()
	for range cfg.producers {
		producers.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.records {
					return
				}
				select {
				case inflight <- struct{}{}:
				case <-ctx.Done():
					return
				}
				promises.Add(1)
				rec := &kgo.Record{Topic: cfg.topic, Value: values.value(i)}
				sent := time.Now()
				cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
					latencies[i] = time.Since(sent)
					if err != nil {
						fail(fmt.Errorf("produce record %d to %s on %s: %w", i, cfg.topic, t.name, err))
					} else if r.Partition >= 0 && int(r.Partition) < len(ends) {
						storeMax(&ends[r.Partition], r.Offset+1)
					}
					<-inflight
					promises.Done()
				})
			}
		})
	}
	producers.Wait()
	promises.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return produced{}, err
	}

	slices.Sort(latencies)
	endOffsets := make(map[int32]int64, len(ends))
	for p := range ends {
		if end := ends[p].Load(); end > 0 {
			endOffsets[int32(p)] = end
		}
	}
	return produced{elapsed: elapsed, latencies: latencies, endOffsets: endOffsets}, nil
}

// storeMax raises v to x unless it already holds more.
func storeMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if cur >= x || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// consumeRecords reads every partition from its start to endOffsets with a
// fresh consumer and checks that exactly cfg.records records came back.
func consumeRecords(ctx context.Context, t target, cfg throughputConfig, endOffsets map[int32]int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.phaseTimeout,
		fmt.Errorf("consuming %d records took longer than --phase-timeout %s", cfg.records, cfg.phaseTimeout))
	defer cancel()

	start := time.Now()
	opts := append(clientOpts(t),
		kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("create consumer for %s: %w", t.name, err)
	}
	defer cl.Close()

	remaining := make(map[int32]int64, len(endOffsets))
	for p, end := range endOffsets {
		remaining[p] = end
	}
	consumed := 0
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		var errs []error
		fetches.EachError(func(topic string, partition int32, err error) {
			errs = append(errs, fmt.Errorf("consume %s-%d on %s: %w", topic, partition, t.name, err))
		})
		if len(errs) > 0 {
			if cause := context.Cause(ctx); cause != nil {
				return 0, cause
			}
			return 0, errors.Join(errs...)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			consumed++
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	elapsed := time.Since(start)
	if consumed != cfg.records {
		return 0, fmt.Errorf("consumed %d records from %s on %s, produced %d", consumed, cfg.topic, t.name, cfg.records)
	}
	return elapsed, nil
}

// valuePool hands out record values: slices of one random buffer, so
// values cost no allocation and do not compress (kgo snappy-compresses by
// default; repeated values would make the benchmark measure compression
// ratios instead of brokers). The buffer is far larger than a produce batch
// (1 MB), so no batch carries the same bytes twice.
type valuePool struct {
	buf  []byte
	size int
}

func newValuePool(size int) valuePool {
	buf := make([]byte, max(8<<20, 4*size))
	// A fixed seed makes every run, and both brokers, send the same bytes.
	rand.NewChaCha8([32]byte{'s', 'a', 'm', 's', 'a'}).Read(buf)
	return valuePool{buf: buf, size: size}
}

// value returns the value of record i; the caller must not modify it.
func (p valuePool) value(i int) []byte {
	off := (i * p.size) % (len(p.buf) - p.size + 1)
	return p.buf[off : off+p.size : off+p.size]
}
