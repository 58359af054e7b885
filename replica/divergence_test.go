package replica

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	plog "github.com/samsa-broker/samsa/log"
)

// recordingHandler keeps the int64 attribute key of every record with
// message msg.
type recordingHandler struct {
	msg, key string
	mu       *sync.Mutex
	values   *[]int64
}

func newRecordingHandler(msg, key string) recordingHandler {
	return recordingHandler{msg: msg, key: key, mu: &sync.Mutex{}, values: new([]int64)}
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != h.msg {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == h.key {
			h.mu.Lock()
			*h.values = append(*h.values, a.Value.Int64())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h recordingHandler) got() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.values)
}

// leadEpochs makes node id lead tp through the given epochs, appending
// counts[i] one-record batches at epochs[i]; tags[i]+j names each batch so
// two logs built alike hold identical bytes.
func leadEpochs(t *testing.T, m *Manager, id int32, epochs []int32, counts []int, tags []byte) {
	t.Helper()
	cfg := Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}
	for i, e := range epochs {
		st := State{Replicas: []int32{1, 2}, ISR: []int32{id}, Leader: id, LeaderEpoch: e, PartitionEpoch: e}
		if err := m.ApplyState(testTP, st, cfg); err != nil {
			t.Fatal(err)
		}
		p, _ := m.Partition(testTP)
		for j := range counts[i] {
			if _, err := p.AppendAsLeader(testBatch(t, 1, 8, tags[i]+byte(j)), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDivergingFollowerTruncatesExactlyTheDivergentPart(t *testing.T) {
	truncations := newRecordingHandler("truncating diverging follower log", "truncate_to")
	c := newTestClusterWith(t, clusterOptions{loggers: map[int32]*slog.Logger{2: slog.New(truncations)}}, 1, 2)
	// The new leader: epoch 0 for offsets 0-7, epoch 1 for 8-11 (it led and
	// wrote those), epoch 3 from 12.
	leadEpochs(t, c.managers[1], 1, []int32{0, 1, 3}, []int{8, 4, 3}, []byte{'a', 'x', 'y'})
	// The old follower: the same epoch 0 records and two more the new
	// leader never had (0-9), then epoch 2 (10-14) that nobody else has.
	leadEpochs(t, c.managers[2], 2, []int32{0, 2}, []int{10, 5}, []byte{'a', 'z'})

	c.create(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3})
	leader := c.partition(1, testTP)
	follower := c.partition(2, testTP)
	// Both logs end at 15 from the start; the epochs tell when it is done.
	waitUntil(t, "follower caught up", func() bool {
		return c.caughtUp(testTP, 1) && slices.Equal(follower.Log().LeaderEpochCache().Entries(), leader.Log().LeaderEpochCache().Entries())
	})

	// Fetch by fetch: epoch 2 ends (for the leader, epoch 1 ends at 12, the
	// follower never had epoch 1) at 10, then epoch 0 agrees up to 8.
	if got := truncations.got(); !slices.Equal(got, []int64{10, 8}) {
		t.Fatalf("truncated to %v, want [10 8]", got)
	}
	leo := leader.Log().LogEndOffset()
	if !bytes.Equal(readAll(t, follower.Log(), 0, leo), readAll(t, leader.Log(), 0, leo)) {
		t.Fatal("follower's batches differ from the leader's")
	}
	if got, want := follower.Log().LeaderEpochCache().Entries(), leader.Log().LeaderEpochCache().Entries(); !slices.Equal(got, want) {
		t.Fatalf("follower epochs %v, leader %v", got, want)
	}
}

// TestFollowerDropsAnEpochItLedWithoutRecords is the fault suite's
// finding: a broker became leader (epoch 1 starts at its LEO, 8), appended
// nothing, and another broker took over at epoch 2. Following it, its
// fetches named epoch 1 as the last fetched; the leader answered
// DivergingEpoch{0, 8}; truncating to 8 changed nothing and kept epoch 1,
// so it looped forever and never rejoined the ISR.
func TestFollowerDropsAnEpochItLedWithoutRecords(t *testing.T) {
	truncations := newRecordingHandler("truncating diverging follower log", "truncate_to")
	c := newTestClusterWith(t, clusterOptions{loggers: map[int32]*slog.Logger{2: slog.New(truncations)}}, 1, 2)
	leadEpochs(t, c.managers[1], 1, []int32{0, 2}, []int{8, 3}, []byte{'a', 'y'})
	leadEpochs(t, c.managers[2], 2, []int32{0, 1}, []int{8, 0}, []byte{'a', 'z'})
	follower := c.partition(2, testTP)
	if got := follower.Log().LeaderEpochCache().Entries(); len(got) != 2 || got[1] != (plog.EpochEntry{Epoch: 1, StartOffset: 8}) {
		t.Fatalf("setup: follower epochs %v, want epoch 1 starting at its LEO 8", got)
	}

	c.create(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	leader := c.partition(1, testTP)
	waitUntil(t, "follower caught up", func() bool {
		return c.caughtUp(testTP, 1) && slices.Equal(follower.Log().LeaderEpochCache().Entries(), leader.Log().LeaderEpochCache().Entries())
	})
	if got := truncations.got(); !slices.Equal(got, []int64{8}) {
		t.Fatalf("truncated to %v, want once to 8", got)
	}
	leo := leader.Log().LogEndOffset()
	if !bytes.Equal(readAll(t, follower.Log(), 0, leo), readAll(t, leader.Log(), 0, leo)) {
		t.Fatal("follower's batches differ from the leader's")
	}
}

func TestFollowerAppliesLeaderHighWatermarkAfterTruncation(t *testing.T) {
	clock := newTestClock()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 2, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerConfig{NodeID: 2, Logs: logs, Now: clock.Now})
	defer logs.Close()
	defer m.Close()
	leadEpochs(t, m, 2, []int32{0, 2}, []int{10, 5}, []byte{'a', 'z'})
	p, _ := m.Partition(testTP)
	if hw := p.HighWatermark(); hw != 15 {
		t.Fatalf("HW %d as sole leader", hw)
	}
	// Now it follows broker 1 at epoch 3 (no fetcher here: the test plays
	// the answers).
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
		Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	// The leader's HW (14) is above where the follower must truncate (10):
	// applied before the truncation it would expose offsets 10-13.
	if _, err := p.applyFetched(1, 3, 15, fetchedPartition{HighWatermark: 14, LogStartOffset: 0,
		DivergingEpoch: &EpochEndOffset{Epoch: 1, EndOffset: 12}}); err != nil {
		t.Fatal(err)
	}
	if leo, hw := p.Log().LogEndOffset(), p.HighWatermark(); leo != 10 || hw != 10 {
		t.Fatalf("after truncation LEO %d HW %d, want 10 10", leo, hw)
	}
	// A stale answer (the fetch offset no longer matches) changes nothing.
	if _, err := p.applyFetched(1, 3, 15, fetchedPartition{HighWatermark: 14}); err != errStaleFetch {
		t.Fatalf("stale answer: %v", err)
	}
	// The HW never passes the follower's own LEO.
	if _, err := p.applyFetched(1, 3, 10, fetchedPartition{HighWatermark: 14, Records: nil}); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 10 {
		t.Fatalf("HW %d above the LEO 10", hw)
	}
}

func TestFollowerBehindLeaderLogStartRestartsThere(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	c.setPaused(2, true)
	c.create(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1})
	leader := c.partition(1, testTP)
	leo := appendBatches(t, leader, 20, 'a')
	const start = 12
	if _, err := leader.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	c.setPaused(2, false)
	follower := c.partition(2, testTP)
	waitUntil(t, "follower caught up", func() bool { return follower.Log().LogEndOffset() == leo && follower.HighWatermark() == leo })
	if got := follower.Log().LogStartOffset(); got != start {
		t.Fatalf("follower log start %d, want %d", got, start)
	}
	if !bytes.Equal(readAll(t, follower.Log(), start, leo), readAll(t, leader.Log(), start, leo)) {
		t.Fatal("follower's batches differ from the leader's")
	}
}

func TestLeadershipMovesAndOldLeaderFollows(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	c.create(testTP, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	appendBatches(t, c.partition(1, testTP), 5, 'a')
	waitUntil(t, "followers caught up", func() bool { return c.caughtUp(testTP, 1) })
	st := c.state(testTP)
	st.Leader, st.LeaderEpoch, st.PartitionEpoch = 2, st.LeaderEpoch+1, st.PartitionEpoch+1
	c.apply(testTP, st)
	newLeader := c.partition(2, testTP)
	// Its HW is what it had; appends at the new epoch replicate to both.
	if hw := newLeader.HighWatermark(); hw != c.partition(1, testTP).HighWatermark() {
		t.Fatalf("new leader HW %d", hw)
	}
	leo := appendBatches(t, newLeader, 5, 'b')
	waitUntil(t, "followers caught up with the new leader", func() bool { return c.caughtUp(testTP, 2) })
	for _, id := range []int32{1, 3} {
		if got, want := readAll(t, c.partition(id, testTP).Log(), 0, leo), readAll(t, newLeader.Log(), 0, leo); !bytes.Equal(got, want) {
			t.Fatalf("broker %d differs from the new leader", id)
		}
	}
	if _, err := c.partition(1, testTP).AppendAsLeader(testBatch(t, 1, 1, 'c'), 1); err == nil {
		t.Fatal("the old leader still takes produces")
	}
}
