package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// faultWorkload is the fault suite's producer: an idempotent acks=all kgo
// producer with unlimited retries writing values "<partition>:<seq>" with a
// sequence number per partition, recording which records were acknowledged
// (promise without error) and at which offset. verify then reads every
// partition back and checks that nothing acknowledged is missing or moved,
// that nothing is stored twice, and that the order is the produce order.
type faultWorkload struct {
	t     testing.TB
	topic string
	parts int32
	cl    *kgo.Client

	// pad is how many bytes of padding follow each value
	// (SAMSA_FAULT_VALUE_BYTES), to fill segments faster.
	pad int

	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	next     []int64           // next sequence number, by partition
	acked    []map[int64]int64 // sequence number -> offset, by partition
	lastAck  []time.Time       // by partition
	inflight int
	failed   map[string]int // final produce errors, by message
	dataLoss []string       // partitions kgo saw data loss on
}

// workloadMaxInflight bounds the records produced and not yet answered, so
// Produce never blocks on a full buffer while a partition is unavailable.
const workloadMaxInflight = 2000

// workloadPace is the pause after each round of one record per partition.
const workloadPace = 10 * time.Millisecond

// startWorkload starts producing to every partition of topic; opts
// override the producer's options.
func startWorkload(t testing.TB, c *faultCluster, topic string, parts int32, opts ...kgo.Opt) *faultWorkload {
	t.Helper()
	w := &faultWorkload{
		t: t, topic: topic, parts: parts,
		stop: make(chan struct{}), done: make(chan struct{}),
		next: make([]int64, parts), acked: make([]map[int64]int64, parts), lastAck: make([]time.Time, parts),
		failed: map[string]int{},
	}
	for p := range w.acked {
		w.acked[p] = map[int64]int64{}
	}
	if s := os.Getenv("SAMSA_FAULT_VALUE_BYTES"); s != "" {
		pad, err := strconv.Atoi(s)
		if err != nil || pad < 0 {
			t.Fatalf("SAMSA_FAULT_VALUE_BYTES=%q: want a non-negative integer", s)
		}
		w.pad = pad
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Faults end in seconds: retry as often, and refresh metadata as
		// soon as a leader moves, instead of kgo's 5 s minimum age.
		kgo.MetadataMinAge(200 * time.Millisecond),
		kgo.MetadataMaxAge(5 * time.Second),
		kgo.ProduceRequestTimeout(2500 * time.Millisecond),
		kgo.RequestTimeoutOverhead(2 * time.Second),
		kgo.ProducerOnDataLossDetected(func(topic string, p int32) {
			w.mu.Lock()
			w.dataLoss = append(w.dataLoss, fmt.Sprintf("%s-%d", topic, p))
			w.mu.Unlock()
		}),
	}, opts...)...)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	w.cl = cl
	t.Cleanup(cl.Close)
	go w.run()
	return w
}

func (w *faultWorkload) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		p := int32(i % int(w.parts))
		w.mu.Lock()
		if w.inflight >= workloadMaxInflight {
			w.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			i--
			continue
		}
		seq := w.next[p]
		w.next[p]++
		w.inflight++
		w.mu.Unlock()
		value := fmt.Appendf(nil, "%d:%09d", p, seq)
		if w.pad > 0 {
			value = append(append(value, '|'), bytes.Repeat([]byte{'x'}, w.pad)...)
		}
		r := &kgo.Record{Partition: p, Value: value}
		w.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.inflight--
			if err != nil {
				w.failed[err.Error()]++
				return
			}
			w.acked[p][seq] = r.Offset
			w.lastAck[p] = time.Now()
		})
		if p == w.parts-1 {
			time.Sleep(workloadPace)
		}
	}
}

// ackedCount is how many records were acknowledged so far.
func (w *faultWorkload) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.acked {
		n += len(a)
	}
	return n
}

// lastAckOf is when partition p last had a record acknowledged.
func (w *faultWorkload) lastAckOf(p int32) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastAck[p]
}

// waitAcked waits until n more records than now are acknowledged.
func (w *faultWorkload) waitAcked(n int, within time.Duration) {
	w.t.Helper()
	want := w.ackedCount() + n
	deadline := time.Now().Add(within)
	for w.ackedCount() < want {
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: only %d of %d records acknowledged within %v", w.topic, w.ackedCount(), want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish stops producing and waits, bounded, until every record produced
// has its answer. Every record must end acknowledged: with RF 3,
// min.insync.replicas=2 and one fault at a time healed, retries always
// succeed in the end, so a final error is a failure (a non-retriable error
// or an answer the client could not place).
func (w *faultWorkload) finish(within time.Duration) {
	w.t.Helper()
	close(w.stop)
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := w.cl.Flush(ctx); err != nil {
		w.mu.Lock()
		n := w.inflight
		w.mu.Unlock()
		w.t.Errorf("%s: %d records still unanswered %v after the workload stopped: %v", w.topic, n, within, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for msg, n := range w.failed {
		w.t.Errorf("%s: %d records failed: %s", w.topic, n, msg)
	}
	if len(w.dataLoss) > 0 {
		w.t.Errorf("%s: the producer detected data loss (OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID) on %v", w.topic, w.dataLoss)
	}
}

// readRecord is one record read back.
type readRecord struct {
	offset int64
	value  string
}

// readAll reads every partition of topic from the start up to its high
// watermark as the cluster reports it now.
func readAll(t testing.TB, c *faultCluster, topic string, parts int32, within time.Duration) [][]readRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	adm := kadm.NewClient(newClientSeeds(t, c.seeds()))
	var ends kadm.ListedOffsets
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		ends, err = adm.ListEndOffsets(ctx, topic)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[topic]) == int(parts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: end offsets: %v (%d partitions)", topic, err, len(ends[topic]))
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := map[int32]kgo.Offset{}
	end := make([]int64, parts)
	for p := range parts {
		start[p] = kgo.NewOffset().AtStart()
		end[p] = ends[topic][p].Offset
	}
	cl := newClientSeeds(t, c.seeds(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchMaxWait(200*time.Millisecond))
	out := make([][]readRecord, parts)
	next := make([]int64, parts)
	pending := func() bool {
		for p := range parts {
			if next[p] < end[p] {
				return true
			}
		}
		return false
	}
	for pending() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("%s: read only up to offsets %v of %v within %v", topic, next, end, within)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("%s-%d: fetch error (retried): %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return
			}
			out[r.Partition] = append(out[r.Partition], readRecord{offset: r.Offset, value: string(r.Value)})
			next[r.Partition] = r.Offset + 1
		})
	}
	return out
}

// verify checks the records read back against what was acknowledged:
//   - every acknowledged record is present, exactly at the offset its
//     acknowledgement named;
//   - no record is stored twice, acknowledged or not (idempotence must
//     deduplicate every retry);
//   - sequence numbers increase along each partition (the produce order);
//   - nothing else is there (in particular no write an isolated leader
//     took and could not commit).
//
// It returns how many records were stored.
func (w *faultWorkload) verify(read [][]readRecord) int {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var problems []string
	stored := 0
	for p := range w.parts {
		seen := map[int64]int64{} // seq -> offset
		last := int64(-1)
		for _, r := range read[p] {
			stored++
			var rp int32
			var seq int64
			v, _, _ := strings.Cut(r.value, "|")
			if _, err := fmt.Sscanf(v, "%d:%d", &rp, &seq); err != nil || rp != p {
				what := "unexpected value"
				if strings.HasPrefix(r.value, isolatedMarker) {
					what = "a write refused by an isolated leader became readable"
				}
				problems = append(problems, fmt.Sprintf("partition %d offset %d: %s: %q", p, r.offset, what, r.value))
				continue
			}
			if prev, dup := seen[seq]; dup {
				problems = append(problems, fmt.Sprintf("partition %d: sequence %d stored twice, at offsets %d and %d", p, seq, prev, r.offset))
				continue
			}
			seen[seq] = r.offset
			if seq < last {
				problems = append(problems, fmt.Sprintf("partition %d offset %d: sequence %d after %d (reordered)", p, r.offset, seq, last))
			}
			last = max(last, seq)
		}
		var missing []int64
		for seq, off := range w.acked[p] {
			got, ok := seen[seq]
			switch {
			case !ok:
				missing = append(missing, seq)
			case got != off:
				problems = append(problems, fmt.Sprintf("partition %d: sequence %d acknowledged at offset %d but stored at %d", p, seq, off, got))
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			problems = append(problems, fmt.Sprintf("partition %d: %d acknowledged records lost, sequences %s", p, len(missing), seqRanges(missing)))
		}
	}
	sort.Strings(problems)
	for i, pr := range problems {
		if i == 30 {
			w.t.Errorf("%s: ... and %d more problems", w.topic, len(problems)-i)
			break
		}
		w.t.Errorf("%s: %s", w.topic, pr)
	}
	return stored
}

// seqRanges renders sorted sequence numbers compactly: "3-7, 9".
func seqRanges(seqs []int64) string {
	var parts []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(seqs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
