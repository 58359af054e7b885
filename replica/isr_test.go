package replica

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

func TestStoppedFollowerLeavesISRAndRejoinsAfterCatchingUp(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	c.cfg.MinInsyncReplicas = 2
	c.create(testTP, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	leader := c.partition(1, testTP)
	appendBatches(t, leader, 5, 'a')
	waitUntil(t, "followers caught up", func() bool { return c.caughtUp(testTP, 1) })

	c.setPaused(3, true)
	leo := appendBatches(t, leader, 5, 'b')
	waitUntil(t, "broker 2 caught up", func() bool { return c.partition(2, testTP).Log().LogEndOffset() == leo })
	if hw := leader.HighWatermark(); hw == leo {
		t.Fatal("HW reached the LEO without broker 3, still in the ISR")
	}

	// Not yet: broker 3 was caught up lagMax ago exactly.
	c.clock.Advance(c.lagMax)
	c.managers[1].MaybeShrinkISRs(c.clock.Now())
	if isr := c.state(testTP).ISR; len(isr) != 3 {
		t.Fatalf("ISR shrank to %v before replica.lag.time.max.ms passed", isr)
	}
	c.clock.Advance(time.Millisecond)
	c.managers[1].MaybeShrinkISRs(c.clock.Now())
	waitUntil(t, "ISR shrunk", func() bool { return slices.Equal(leader.State().ISR, []int32{1, 2}) })
	// With the shrink committed the HW no longer waits for broker 3, and
	// acks=all works again with min.insync.replicas=2.
	waitUntil(t, "HW at the LEO", func() bool { return leader.HighWatermark() == leo })
	res, err := leader.AppendAsLeader(testBatch(t, 1, 10, 'c'), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.WaitCommitted(context.Background(), res.LastOffset+1, 0, time.After(10*time.Second)); err != nil {
		t.Fatalf("acks=all with ISR [1 2]: %v", err)
	}
	if v, _ := gauge(t, c.regs[1], "kafka_server_replicamanager_isrshrinks_total", nil); v != 1 {
		t.Fatalf("isr shrinks %v", v)
	}
	if v, _ := gauge(t, c.regs[1], "kafka_server_replicamanager_underreplicatedpartitions", nil); v != 1 {
		t.Fatalf("under-replicated partitions %v", v)
	}

	// Back: broker 3 fetches, catches up and is added on a fetch.
	c.setPaused(3, false)
	waitUntil(t, "ISR expanded", func() bool { return slices.Equal(c.state(testTP).ISR, []int32{1, 2, 3}) })
	waitUntil(t, "all caught up", func() bool { return c.caughtUp(testTP, 1) })
	if v, _ := gauge(t, c.regs[1], "kafka_server_replicamanager_isrexpands_total", nil); v != 1 {
		t.Fatalf("isr expands %v", v)
	}
	if v, _ := gauge(t, c.regs[1], "kafka_server_replicamanager_underreplicatedpartitions", nil); v != 0 {
		t.Fatalf("under-replicated partitions %v after the expansion", v)
	}
}

func TestISRBelowMinFreezesHighWatermarkInCluster(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	c.cfg.MinInsyncReplicas = 3
	c.create(testTP, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	leader := c.partition(1, testTP)
	appendBatches(t, leader, 3, 'a')
	waitUntil(t, "followers caught up", func() bool { return c.caughtUp(testTP, 1) })
	c.setPaused(3, true)
	leo := appendBatches(t, leader, 2, 'b')
	c.clock.Advance(c.lagMax + time.Millisecond)
	// Broker 2's next fetch refreshes its caught-up time at the new clock.
	waitUntil(t, "broker 2 caught up", func() bool {
		f := leader.Followers()[2]
		return f.LogEndOffset == leo && f.LastFetchTime.Equal(c.clock.Now())
	})
	c.managers[1].MaybeShrinkISRs(c.clock.Now())
	waitUntil(t, "ISR shrunk", func() bool { return slices.Equal(leader.State().ISR, []int32{1, 2}) })
	if _, err := leader.AppendAsLeader(testBatch(t, 1, 1, 'c'), -1); !isKerr(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with ISR below min.insync.replicas=3: %v", err)
	}
	hw := leader.HighWatermark()
	appendBatches(t, leader, 2, 'd')
	waitUntil(t, "broker 2 caught up", func() bool {
		return c.partition(2, testTP).Log().LogEndOffset() == leader.Log().LogEndOffset()
	})
	if got := leader.HighWatermark(); got != hw {
		t.Fatalf("HW moved from %d to %d below min ISR", hw, got)
	}
	if v, _ := gauge(t, c.regs[1], "kafka_server_replicamanager_underminisrpartitioncount", nil); v != 1 {
		t.Fatalf("under min ISR partitions %v", v)
	}
}

// answerOnlyChanger commits every proposal in its answer and never sends
// metadata, so the leader must take the answer itself.
type answerOnlyChanger struct {
	mu    sync.Mutex
	epoch int32
	calls [][]int32
	err   error
}

func (a *answerOnlyChanger) AlterPartition(_ context.Context, _ plog.TopicPartition, _ [16]byte, _, partitionEpoch int32, isr []int32) ([]int32, int32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, isr)
	if a.err != nil {
		return nil, 0, a.err
	}
	a.epoch = partitionEpoch + 1
	return isr, a.epoch, nil
}

func (a *answerOnlyChanger) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func TestISRChangeCommittedByAnswerThenStaleMetadataIgnored(t *testing.T) {
	changer := &answerOnlyChanger{}
	m, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 4}, 1, changer)
	leo := appendBatches(t, p, 3, 'a')
	if _, err := p.ReadForFollower(2, -1, leo, 0, 0, 100, clock.Now()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "expansion committed", func() bool { return slices.Equal(p.State().ISR, []int32{1, 2}) })
	if st := p.State(); st.PartitionEpoch != 5 {
		t.Fatalf("partition epoch %d after the commit", st.PartitionEpoch)
	}
	// The delta for the old partition epoch arrives late: ignored.
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 4}, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	if st := p.State(); !slices.Equal(st.ISR, []int32{1, 2}) || st.PartitionEpoch != 5 {
		t.Fatalf("stale metadata applied: %+v", st)
	}
}

func TestISRChangeRefusedWaitsForNewMetadata(t *testing.T) {
	changer := &answerOnlyChanger{err: fmt.Errorf("%w: stale", kerr.InvalidUpdateVersion)}
	m, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 4}, 1, changer)
	leo := appendBatches(t, p, 3, 'a')
	fetch := func() {
		t.Helper()
		if _, err := p.ReadForFollower(2, -1, leo, 0, 0, 100, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	fetch()
	waitUntil(t, "proposal answered", func() bool {
		p.rmu.Lock()
		defer p.rmu.Unlock()
		return changer.callCount() == 1 && p.isr.pending == nil
	})
	fetch()
	clock.Advance(time.Second)
	fetch()
	if n := changer.callCount(); n != 1 {
		t.Fatalf("%d proposals before new metadata, want 1", n)
	}
	changer.mu.Lock()
	changer.err = nil
	changer.mu.Unlock()
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 5}, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	fetch()
	waitUntil(t, "expansion committed", func() bool { return slices.Equal(p.State().ISR, []int32{1, 2}) })
}

func TestLeaderResetsFollowerStateOnNewEpoch(t *testing.T) {
	m, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, 1, nil)
	leo := appendBatches(t, p, 3, 'a')
	if _, err := p.ReadForFollower(2, -1, leo, 0, 0, 100, clock.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1}, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	fs := p.Followers()
	// Re-elected: offsets kept, the ISR member counts as caught up now, the
	// other as never.
	if fs[2].LogEndOffset != leo || !fs[2].LastCaughtUpTime.Equal(clock.Now()) {
		t.Fatalf("follower 2 %+v", fs[2])
	}
	if fs[3].LogEndOffset != -1 || !fs[3].LastCaughtUpTime.IsZero() {
		t.Fatalf("follower 3 %+v", fs[3])
	}
	if p.OffsetNotAvailableYet() {
		t.Fatal("epoch start above HW")
	}
}

func TestLaggingFollowerWarnsOncePerLagTime(t *testing.T) {
	warns := newRecordingHandler("follower lagging behind the leader", "lag_ms")
	clock := newTestClock()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerConfig{NodeID: 1, Logs: logs, Now: clock.Now, Logger: slog.New(warns), ReplicaLagTimeMax: 10 * time.Second})
	defer logs.Close()
	defer m.Close()
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partition(testTP)
	appendBatches(t, p, 2, 'a')
	if _, err := p.ReadForFollower(2, -1, 1, -1, 0, 100, clock.Now()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    []int64
	}{
		{5 * time.Second, nil},                  // exactly half: not yet
		{time.Millisecond, []int64{5001}},       // past half: warned
		{4 * time.Second, []int64{5001}},        // again within the lag time: quiet
		{6 * time.Second, []int64{5001, 15001}}, // a lag time later: warned again
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		m.MaybeShrinkISRs(clock.Now())
		if got := warns.got(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: warnings with lag_ms %v, want %v", i, got, s.want)
		}
	}
}
