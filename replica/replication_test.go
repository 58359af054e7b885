package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

var testTP = plog.TopicPartition{Topic: "events", Partition: 0}

func isKerr(err error, want *kerr.Error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && ke.Code == want.Code
}

// caughtUp reports whether every replica of tp has the leader's LEO and the
// leader's HW.
func (c *testCluster) caughtUp(tp plog.TopicPartition, leader int32) bool {
	lp := c.partition(leader, tp)
	leo := lp.Log().LogEndOffset()
	if lp.HighWatermark() != leo {
		return false
	}
	for _, id := range c.state(tp).Replicas {
		p := c.partition(id, tp)
		if p.Log().LogEndOffset() != leo || p.HighWatermark() != leo {
			return false
		}
	}
	return true
}

func TestFollowersCatchUpWithIdenticalBatches(t *testing.T) {
	// v12 names topics, v13 uses topic IDs, v15 carries ReplicaState.
	for _, version := range []int16{12, 14, 17} {
		t.Run(fmt.Sprintf("fetch v%d", version), func(t *testing.T) { testFollowersCatchUp(t, version) })
	}
}

func testFollowersCatchUp(t *testing.T, version int16) {
	c := newTestClusterWith(t, clusterOptions{fetchVersion: version}, 1, 2, 3)
	c.cfg.Log.SegmentBytes = 2 << 10 // many segments, rolled independently
	c.create(testTP, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	leader := c.partition(1, testTP)
	appendBatches(t, leader, 40, 'a')
	// More while the followers fetch.
	leo := appendBatches(t, leader, 40, 'A')
	waitUntil(t, "followers caught up", func() bool { return c.caughtUp(testTP, 1) })

	want := readAll(t, leader.Log(), 0, leo)
	for _, id := range []int32{2, 3} {
		fl := c.partition(id, testTP).Log()
		if got := readAll(t, fl, 0, leo); !bytes.Equal(got, want) {
			t.Fatalf("follower %d: %d bytes differ from the leader's %d", id, len(got), len(want))
		}
		if fl.NumSegments() < 2 {
			t.Fatalf("follower %d has %d segments; the test wants several", id, fl.NumSegments())
		}
		if !slices.Equal(fl.LeaderEpochCache().Entries(), leader.Log().LeaderEpochCache().Entries()) {
			t.Fatalf("follower %d epochs %v, leader %v", id, fl.LeaderEpochCache().Entries(), leader.Log().LeaderEpochCache().Entries())
		}
	}
	// The follower's lag gauge follows the leader's HW.
	if v, ok := gauge(t, c.regs[2], "kafka_server_fetcherlagmetrics_consumerlag", map[string]string{"topic": "events", "partition": "0"}); !ok || v != 0 {
		t.Fatalf("follower lag gauge %v %v", v, ok)
	}
}

func TestFollowerRefusesProduceAndConsumerFetch(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	c.create(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	f := c.partition(2, testTP)
	if _, err := f.AppendAsLeader(testBatch(t, 1, 1, 'x'), 1); !isKerr(err, kerr.NotLeaderForPartition) {
		t.Fatalf("produce on a follower: %v", err)
	}
	if _, err := f.Read(0, -1, 1<<20, true); !isKerr(err, kerr.NotLeaderForPartition) {
		t.Fatalf("consumer fetch on a follower: %v", err)
	}
}

// leaderOnly is one Manager leading tp for replicas without fetchers:
// tests play the followers by calling ReadForFollower.
func leaderOnly(t *testing.T, st State, minISR int32, changer ISRChanger) (*Manager, *Partition, *testClock) {
	t.Helper()
	clock := newTestClock()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerConfig{NodeID: 1, Logs: logs, Now: clock.Now, ISRChanger: changer, ReplicaLagTimeMax: 10 * time.Second})
	t.Cleanup(func() {
		m.Close()
		logs.Close()
	})
	if err := m.ApplyState(testTP, st, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: minISR}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partition(testTP)
	return m, p, clock
}

func TestHighWatermarkIsMinLEOOverISR(t *testing.T) {
	_, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}, 1, nil)
	leo := appendBatches(t, p, 6, 'a')
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before any follower fetched", hw)
	}
	var hws []int64
	fetch := func(id int32, offset int64) {
		t.Helper()
		if _, err := p.ReadForFollower(id, -1, offset, -1, 0, 1<<20, clock.Now()); err != nil {
			t.Fatal(err)
		}
		hws = append(hws, p.HighWatermark())
	}
	fetch(2, 4)
	fetch(3, 2)
	fetch(3, leo)
	fetch(2, leo)
	fetch(2, 3) // a follower going back (it truncated) never moves the HW back
	if want := []int64{0, 2, 4, leo, leo}; !slices.Equal(hws, want) {
		t.Fatalf("HW after each fetch %v, want %v", hws, want)
	}
}

func TestAcksAllWokenByFollowerFetch(t *testing.T) {
	_, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, 2, nil)
	res, err := p.AppendAsLeader(testBatch(t, 3, 10, 'a'), -1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.WaitCommitted(context.Background(), res.LastOffset+1, 0, time.After(10*time.Second)) }()
	select {
	case err := <-done:
		t.Fatalf("acks=all answered before the follower had the batch: %v", err)
	default:
	}
	// The follower reads the batch, then its next fetch says it has it.
	rr, err := p.ReadForFollower(2, -1, 0, -1, 0, 1<<20, clock.Now())
	if err != nil || len(rr.Batches) == 0 {
		t.Fatalf("follower read: %d bytes, %v", len(rr.Batches), err)
	}
	if _, err := p.ReadForFollower(2, -1, res.LastOffset+1, 0, 0, 1<<20, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("acks=all: %v", err)
	}
	// And with the follower silent, the produce times out.
	res, err = p.AppendAsLeader(testBatch(t, 1, 10, 'b'), -1)
	if err != nil {
		t.Fatal(err)
	}
	deadline := make(chan time.Time, 1)
	deadline <- time.Now()
	if err := p.WaitCommitted(context.Background(), res.LastOffset+1, 0, deadline); !isKerr(err, kerr.RequestTimedOut) {
		t.Fatalf("acks=all without the follower: %v", err)
	}
}

func TestUnderMinISRRefusesAcksAllAndFreezesHighWatermark(t *testing.T) {
	_, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1}, 2, nil)
	if _, err := p.AppendAsLeader(testBatch(t, 1, 10, 'a'), -1); !isKerr(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all below min ISR: %v", err)
	}
	if leo := p.Log().LogEndOffset(); leo != 0 {
		t.Fatalf("refused batch was written: LEO %d", leo)
	}
	leo := appendBatches(t, p, 3, 'a') // acks=1 still works
	for _, id := range []int32{2, 3} {
		if _, err := p.ReadForFollower(id, -1, leo, -1, 0, 1<<20, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d advanced while the ISR is below min.insync.replicas", hw)
	}
}

func TestReadForFollowerErrors(t *testing.T) {
	_, p, clock := leaderOnly(t, State{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3}, 1, nil)
	leo := appendBatches(t, p, 4, 'a')
	if _, err := p.DeleteRecordsBefore(0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		replica          int32
		brokerEpoch      int64
		offset           int64
		lastFetched      int32
		currentEpoch     int32
		wantErr          error
		wantDivergingEnd int64
	}{
		{"older leader epoch", 2, -1, 0, -1, 2, kerr.FencedLeaderEpoch, -1},
		{"newer leader epoch", 2, -1, 0, -1, 4, kerr.UnknownLeaderEpoch, -1},
		{"not a replica, with an epoch", 7, -1, 0, -1, 3, kerr.UnknownLeaderEpoch, -1},
		{"not a replica, without an epoch", 7, -1, 0, -1, -1, kerr.NotLeaderForPartition, -1},
		{"past the log end", 2, -1, leo + 1, -1, 3, plog.ErrOffsetOutOfRange, -1},
		{"last fetched epoch newer than any", 2, -1, 2, 9, 3, plog.ErrOffsetOutOfRange, -1},
		{"diverging: epoch the leader never had", 2, -1, 2, 2, 3, nil, 0},
		{"same epoch, fine", 2, -1, 2, 3, 3, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.ReadForFollower(tt.replica, tt.brokerEpoch, tt.offset, tt.lastFetched, tt.currentEpoch, 1<<20, clock.Now())
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
			case *kerr.Error:
				if !isKerr(err, want) {
					t.Fatalf("error %v, want %v", err, want)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error %v, want %v", err, want)
				}
				// OFFSET_OUT_OF_RANGE still tells the follower where the log is.
				if res.LogStartOffset != 0 || res.HighWatermark < 0 {
					t.Fatalf("out of range answer without offsets: %+v", res)
				}
			}
			if tt.wantDivergingEnd >= 0 {
				if res.DivergingEpoch == nil || res.DivergingEpoch.EndOffset != tt.wantDivergingEnd || len(res.Batches) != 0 {
					t.Fatalf("diverging %+v, %d bytes", res.DivergingEpoch, len(res.Batches))
				}
			} else if res.DivergingEpoch != nil {
				t.Fatalf("unexpected diverging epoch %+v", res.DivergingEpoch)
			}
		})
	}
}

func TestReadForFollowerRefusesStaleBrokerEpoch(t *testing.T) {
	clock := newTestClock()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerConfig{NodeID: 1, Logs: logs, Now: clock.Now, BrokerState: func(int32) (int64, bool) { return 50, true }})
	defer logs.Close()
	defer m.Close()
	if err := m.ApplyState(testTP, State{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partition(testTP)
	if _, err := p.ReadForFollower(2, 49, 0, -1, 0, 100, clock.Now()); !isKerr(err, kerr.NotLeaderForPartition) {
		t.Fatalf("fetch from an old incarnation: %v", err)
	}
	if _, err := p.ReadForFollower(2, 50, 0, -1, 0, 100, clock.Now()); err != nil {
		t.Fatalf("fetch from the registered incarnation: %v", err)
	}
}
