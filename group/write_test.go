package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/replica"
)

// setReplicas re-applies the state of groupID's partition with the given
// replicas and ISR (this node stays leader at the same epoch).
func (e *testEnv) setReplicas(groupID string, replicas, isr []int32, minISR int32, partitionEpoch int32) {
	e.t.Helper()
	st := replica.State{TopicID: [16]byte{1, 2, 3}, Replicas: replicas, ISR: isr, Leader: testNode,
		LeaderEpoch: e.epoch, PartitionEpoch: partitionEpoch}
	cfg := replica.Config{Log: plog.DefaultConfig(), MinInsyncReplicas: minISR, MaxMessageBytes: 1 << 20, Compression: "producer"}
	if err := e.replicas.ApplyState(plog.TopicPartition{Topic: OffsetsTopic, Partition: e.partitionOf(groupID)}, st, cfg); err != nil {
		e.t.Fatal(err)
	}
}

func TestWriteFailuresMapToCoordinatorErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("w", 1, "t")

	// ISR below min.insync.replicas: nothing is written (Kafka's
	// NOT_ENOUGH_REPLICAS), answered COORDINATOR_NOT_AVAILABLE.
	e.setReplicas("w", []int32{testNode, 2}, []int32{testNode}, 2, e.epoch+1)
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), commitReq("w", tg.members[0], tg.generation, "t", map[int32]int64{0: 1}))); c[0] != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit with too small an ISR: %v", c)
	}
	if _, offs := e.fetchOffsetsOf("w"); len(offs) != 0 {
		t.Fatalf("failed commit is visible: %v", offs)
	}

	// A follower in the ISR that never fetches: the commit is appended but
	// never replicated, and times out after offsets.commit.timeout.ms.
	e.setReplicas("w", []int32{testNode, 2}, []int32{testNode, 2}, 1, e.epoch+2)
	resp, w := e.coord.beginCommit(commitReq("w", tg.members[0], tg.generation, "t", map[int32]int64{0: 2}))
	if w == nil {
		t.Fatalf("commit answered at once: %v", commitCodes(resp))
	}
	heartbeat(e, "w", tg.members[0], tg.generation)
	e.clock.Advance(5 * time.Second)
	if code := wait(t, w); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("unreplicated commit: %d", code)
	}
	if _, offs := e.fetchOffsetsOf("w"); len(offs) != 0 {
		t.Fatalf("unreplicated commit is visible: %v", offs)
	}

	// The group store of a rebalance fails the same way: every SyncGroup
	// gets the error and the group rebalances again.
	heartbeat(e, "w", tg.members[0], tg.generation)
	_, wj := e.coord.beginJoin(joinReq("w", tg.members[0], "t"), clientInfo{})
	r := wait(t, wj)
	e.setReplicas("w", []int32{testNode, 2}, []int32{testNode}, 2, e.epoch+3)
	_, ws := e.coord.beginSync(syncReq("w", tg.members[0], r.generation, map[string][]byte{tg.members[0]: consumerAssignment("t", 0)}))
	if sr := wait(t, ws); sr.errCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("sync with a failed store: %d", sr.errCode)
	}
	if st, _, _ := e.groupState("w"); st != statePreparingRebalance {
		t.Fatalf("state after failed store: %v", st)
	}

	// Losing leadership: NOT_COORDINATOR.
	st := replica.State{TopicID: [16]byte{1, 2, 3}, Replicas: []int32{testNode, 2}, ISR: []int32{testNode, 2}, Leader: 2,
		LeaderEpoch: e.epoch + 1, PartitionEpoch: e.epoch + 4}
	if err := e.replicas.ApplyState(plog.TopicPartition{Topic: OffsetsTopic, Partition: e.partitionOf("w")}, st,
		replica.Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	simple := e.sibling("simple", "w")
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), commitReq(simple, "", -1, "t", map[int32]int64{0: 1}))); c[0] != kerr.NotCoordinator.Code {
		t.Fatalf("commit after losing leadership: %v", c)
	}
}

func TestLoadSkipsUnknownRecordsAndFailsOnCorruptOnes(t *testing.T) {
	e := newTestEnv(t, nil)
	e.coord.OffsetCommit(context.Background(), commitReq("rec", "", -1, "t", map[int32]int64{0: 1}))
	part, _ := e.replicas.Partition(plog.TopicPartition{Topic: OffsetsTopic, Partition: e.partitionOf("rec")})
	// A record of a type this coordinator does not know (key version
	// 100; 3-8 are KIP-848 consumer group records, which it replays) is
	// skipped.
	unknown := coordinatorRecord{key: []byte{0, 100, 0, 1, 'x'}, value: []byte{0, 0}}
	if _, err := part.AppendAsLeader(buildBatch([]coordinatorRecord{unknown}, e.clock.Now()), -1); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if code, offs := e.fetchOffsetsOf("rec"); code != 0 || offs[topicPartition{"t", 0}].Offset != 1 {
		t.Fatalf("after skipping an unknown record: %d %v", code, offs)
	}

	// An offset commit whose value does not decode fails the load: the
	// partition is not served (NOT_COORDINATOR) until elected again.
	part, _ = e.replicas.Partition(plog.TopicPartition{Topic: OffsetsTopic, Partition: e.partitionOf("rec")})
	bad := offsetCommitRecord("rec", topicPartition{"t", 1}, &committedOffset{expireTime: -1})
	bad.value = bad.value[:5]
	if _, err := part.AppendAsLeader(buildBatch([]coordinatorRecord{bad}, e.clock.Now()), -1); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if code, _ := e.fetchOffsetsOf("rec"); code != kerr.NotCoordinator.Code {
		t.Fatalf("fetch from a partition that failed to load: %d", code)
	}
}

func TestFailedLoadIsRetriedAtTheSameEpoch(t *testing.T) {
	e := newTestEnv(t, nil)
	e.coord.OffsetCommit(context.Background(), commitReq("retry", "", -1, "t", map[int32]int64{0: 4}))
	p := e.partitionOf("retry")
	tp := plog.TopicPartition{Topic: OffsetsTopic, Partition: p}
	e.coord.Resign(p, e.epoch)
	if err := e.replicas.Remove(tp, false); err != nil {
		t.Fatal(err)
	}
	e.coord.Elect(p, e.epoch+1) // the partition is not hosted: the load fails
	e.waitLoaded()
	if code, _ := e.fetchOffsetsOf("retry"); code != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after a failed load: %d", code)
	}
	e.epoch++
	e.host(p)
	e.coord.Elect(p, e.epoch)
	e.waitLoaded()
	if code, offs := e.fetchOffsetsOf("retry"); code != 0 || offs[topicPartition{"t", 0}].Offset != 4 {
		t.Fatalf("fetch after the retried load: %d %v", code, offs)
	}
}
