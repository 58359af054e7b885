package replica

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
)

// testClock is a settable clock shared by a test cluster's managers.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testCluster is a few Managers over temp-dir logs in one process. Its
// transport hands a follower's kmsg.FetchRequest to the leader Manager's
// FetchForFollower, and its controller commits ISR changes and hands every
// change to every Manager through ApplyState, as metadata deltas would.
type testCluster struct {
	t        *testing.T
	clock    *testClock
	managers map[int32]*Manager
	regs     map[int32]*prometheus.Registry
	lagMax   time.Duration

	mu     sync.Mutex
	states map[plog.TopicPartition]State
	cfg    Config
	names  map[[16]byte]string
	// paused brokers' fetches fail at once, as if the process were stopped.
	paused map[int32]bool
}

func newTestCluster(t *testing.T, ids ...int32) *testCluster {
	t.Helper()
	return newTestClusterWith(t, clusterOptions{}, ids...)
}

// clusterOptions vary a test cluster's nodes.
type clusterOptions struct {
	loggers      map[int32]*slog.Logger
	fetchVersion int16
}

func newTestClusterWith(t *testing.T, opts clusterOptions, ids ...int32) *testCluster {
	t.Helper()
	c := &testCluster{
		t: t, clock: newTestClock(), managers: map[int32]*Manager{}, regs: map[int32]*prometheus.Registry{},
		lagMax: 10 * time.Second, states: map[plog.TopicPartition]State{}, names: map[[16]byte]string{}, paused: map[int32]bool{},
		cfg: Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1},
	}
	for _, id := range ids {
		logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: id, Defaults: plog.DefaultConfig()})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		m := NewManager(ManagerConfig{
			NodeID: id, Logs: logs, Now: c.clock.Now, Logger: opts.loggers[id], FetchVersion: opts.fetchVersion,
			FetchTransport: c, ISRChanger: c,
			BrokerEpoch:          func() int64 { return 100 + int64(id) },
			BrokerState:          func(b int32) (int64, bool) { return 100 + int64(b), true },
			ReplicaLagTimeMax:    c.lagMax,
			ReplicaFetchWaitMax:  50 * time.Millisecond,
			ReplicaFetchBackoff:  5 * time.Millisecond,
			ReplicaFetchMaxBytes: 4 << 10,
			Registry:             reg,
		})
		c.managers[id], c.regs[id] = m, reg
		t.Cleanup(func() {
			if err := m.Close(); err != nil {
				t.Error(err)
			}
			logs.Close()
		})
	}
	return c
}

// create hosts tp on its replicas with the given state.
func (c *testCluster) create(tp plog.TopicPartition, st State) {
	c.t.Helper()
	st.TopicID = [16]byte{byte(len(tp.Topic)), tp.Topic[0], byte(tp.Partition)}
	c.mu.Lock()
	c.names[st.TopicID] = tp.Topic
	c.mu.Unlock()
	c.apply(tp, st)
}

// apply installs st as the committed state of tp on every replica.
func (c *testCluster) apply(tp plog.TopicPartition, st State) {
	c.t.Helper()
	c.mu.Lock()
	if old, ok := c.states[tp]; ok {
		st.TopicID = old.TopicID
	}
	c.states[tp] = st
	cfg := c.cfg
	c.mu.Unlock()
	for _, id := range st.Replicas {
		if err := c.managers[id].ApplyState(tp, st, cfg); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *testCluster) state(tp plog.TopicPartition) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.states[tp]
}

func (c *testCluster) setPaused(id int32, paused bool) {
	c.mu.Lock()
	c.paused[id] = paused
	c.mu.Unlock()
}

func (c *testCluster) partition(id int32, tp plog.TopicPartition) *Partition {
	c.t.Helper()
	p, ok := c.managers[id].Partition(tp)
	if !ok {
		c.t.Fatalf("node %d does not host %s", id, tp)
	}
	return p
}

// AlterPartition implements ISRChanger as the controller does: a proposal
// based on the current epochs is committed with the partition epoch bumped,
// and the change reaches every replica as metadata before the answer.
func (c *testCluster) AlterPartition(_ context.Context, tp plog.TopicPartition, _ [16]byte, leaderEpoch, partitionEpoch int32, newISR []int32) ([]int32, int32, error) {
	c.mu.Lock()
	st := c.states[tp]
	if leaderEpoch != st.LeaderEpoch || partitionEpoch != st.PartitionEpoch {
		c.mu.Unlock()
		return nil, 0, fmt.Errorf("%w: proposal at %d/%d, current %d/%d", kerr.InvalidUpdateVersion, leaderEpoch, partitionEpoch, st.LeaderEpoch, st.PartitionEpoch)
	}
	st.ISR = slices.Clone(newISR)
	st.PartitionEpoch++
	c.mu.Unlock()
	c.apply(tp, st)
	return st.ISR, st.PartitionEpoch, nil
}

// Fetch implements FetchTransport by calling the leader Manager directly,
// with the handler's mapping of requests, results and errors.
func (c *testCluster) Fetch(ctx context.Context, brokerID int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	from := req.ReplicaState.ID
	if req.Version < 15 {
		from = req.ReplicaID
	}
	c.mu.Lock()
	paused := c.paused[from]
	c.mu.Unlock()
	if paused {
		return nil, errors.New("connection refused")
	}
	leader, ok := c.managers[brokerID]
	if !ok {
		return nil, fmt.Errorf("no broker %d", brokerID)
	}
	freq := FollowerFetchRequest{ReplicaID: from, BrokerEpoch: req.ReplicaState.Epoch, MaxWait: time.Duration(req.MaxWaitMillis) * time.Millisecond,
		MinBytes: req.MinBytes, MaxBytes: req.MaxBytes}
	type slot struct{ t, p int }
	var slots []slot
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for ti, rt := range req.Topics {
		name := rt.Topic
		if req.Version >= 13 {
			c.mu.Lock()
			name = c.names[rt.TopicID]
			c.mu.Unlock()
		}
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			slots = append(slots, slot{ti, pi})
			freq.Partitions = append(freq.Partitions, FollowerFetchPartition{TP: plog.TopicPartition{Topic: name, Partition: rp.Partition},
				FetchOffset: rp.FetchOffset, LastFetchedEpoch: rp.LastFetchedEpoch, CurrentLeaderEpoch: rp.CurrentLeaderEpoch, MaxBytes: rp.PartitionMaxBytes})
		}
		resp.Topics = append(resp.Topics, st)
	}
	results, wait := leader.FetchForFollower(ctx, freq)
	if wait != nil {
		results = wait()
	}
	for i, s := range slots {
		sp := &resp.Topics[s.t].Partitions[s.p]
		res := results[i]
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
		sp.RecordBatches = res.Batches
		if res.DivergingEpoch != nil {
			sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = res.DivergingEpoch.Epoch, res.DivergingEpoch.EndOffset
		}
		sp.ErrorCode = errorCode(res.Err)
	}
	return resp, nil
}

func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, plog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	}
	return kerr.UnknownServerError.Code
}

// testBatch encodes a valid v2 batch of n records with values of size
// bytes, each distinct so batch streams can be compared.
func testBatch(t *testing.T, n, size int, tag byte) []byte {
	t.Helper()
	var recs []byte
	for i := range n {
		rec := kmsg.NewRecord()
		rec.OffsetDelta = int32(i)
		rec.Value = bytes.Repeat([]byte{tag + byte(i)}, size)
		recs = rec.AppendTo(recs)
	}
	rb := kmsg.NewRecordBatch()
	rb.Magic, rb.NumRecords, rb.LastOffsetDelta = 2, int32(n), int32(n-1)
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.Records = recs
	b := rb.AppendTo(nil)
	rb.Length = int32(len(b) - 12)
	b = rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// appendBatches appends count batches at the leader with acks=1 and
// returns the leader's LEO after.
func appendBatches(t *testing.T, p *Partition, count int, tag byte) int64 {
	t.Helper()
	for i := range count {
		if _, err := p.AppendAsLeader(testBatch(t, 1+i%3, 10+50*(i%4), tag+byte(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	return p.Log().LogEndOffset()
}

// waitUntil waits for cond, which background fetchers make true; it polls
// because there is no single event to wait for across goroutines of
// several managers.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readAll returns the batches of l in [from, to), read as consumers and
// followers read them (reads stop at segment ends, so it loops).
func readAll(t *testing.T, l *plog.Log, from, to int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < to; {
		b, err := l.Read(off, 1<<20, to, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("no batch at %d below %d", off, to)
		}
		out = append(out, b...)
		for pos := 0; pos < len(b); {
			h, err := record.ParseHeader(b[pos:])
			if err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			pos += h.Size()
		}
	}
	return out
}

// gauge reads a metric's value from a registry; labels select one series.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}
