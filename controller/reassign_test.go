package controller

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestPartitionRecordVersions(t *testing.T) {
	id := [16]byte{15: 1}
	v0 := EncodeRecords([]Record{PartitionRecord{TopicID: id, Replicas: ids(1), ISR: ids(1), Leader: 1}})
	v1 := EncodeRecords([]Record{PartitionRecord{TopicID: id, Replicas: ids(2, 1), ISR: ids(1), Leader: 1,
		AddingReplicas: ids(2), RemovingReplicas: ids(1)}})
	// A partition without a reassignment keeps its version 0 bytes.
	wantEq(t, v0[2:4], []byte{byte(PartitionRecordType), 0})
	wantEq(t, v1[2:4], []byte{byte(PartitionRecordType), 1})
	wantEq(t, v1[len(v1)-10:], []byte{
		2, 0, 0, 0, 2, // adding: varint length 1, broker 2
		2, 0, 0, 0, 1, // removing: varint length 1, broker 1
	})
	change := EncodeRecords([]Record{PartitionChangeRecord{TopicID: id, Leader: NoLeaderChange, AddingReplicas: []int32{}}})
	wantEq(t, change[2:4], []byte{byte(PartitionChangeRecordType), 1})
	wantEq(t, change[len(change)-2:], []byte{0, 1}) // adding: empty; removing: nil (-1)
	// Version 2 is not known yet.
	body := append([]byte{byte(PartitionRecordType), 2}, v1[4:]...)
	if _, err := DecodeRecords(oneRecord(body)); err == nil {
		t.Fatal("decoded a PartitionRecord version 2")
	}
}

func TestApplyReassignmentSets(t *testing.T) {
	img := baseImage(t)
	tests := []struct {
		name    string
		rec     Record
		want    PartitionImage
		wantErr bool
	}{
		{"start", PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: NoLeaderChange,
			Replicas: ids(3, 2, 1), AddingReplicas: ids(3), RemovingReplicas: ids(1)},
			PartitionImage{Replicas: ids(3, 2, 1), ISR: ids(1, 2), Leader: 1, PartitionEpoch: 1,
				AddingReplicas: ids(3), RemovingReplicas: ids(1)}, false},
		{"empty sets in a PartitionRecord are none", PartitionRecord{TopicID: topicA, Partition: 0,
			Replicas: ids(1, 2), ISR: ids(1, 2), Leader: 1, AddingReplicas: []int32{}, RemovingReplicas: []int32{}},
			PartitionImage{Replicas: ids(1, 2), ISR: ids(1, 2), Leader: 1}, false},
		{"adding outside the replicas", PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: NoLeaderChange,
			AddingReplicas: ids(3)}, PartitionImage{}, true},
		{"removing outside the replicas", PartitionRecord{TopicID: topicA, Partition: 0,
			Replicas: ids(1, 2), ISR: ids(1, 2), Leader: 1, RemovingReplicas: ids(3)}, PartitionImage{}, true},
		{"a replica both added and removed", PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: NoLeaderChange,
			AddingReplicas: ids(2), RemovingReplicas: ids(2)}, PartitionImage{}, true},
		{"every replica removed", PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: NoLeaderChange,
			RemovingReplicas: ids(1, 2)}, PartitionImage{}, true},
		{"a set naming a broker twice", PartitionChangeRecord{TopicID: topicA, Partition: 0, Leader: NoLeaderChange,
			RemovingReplicas: ids(2, 2)}, PartitionImage{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, _, err := Apply(img, []Record{tt.rec})
			if tt.wantErr {
				if err == nil {
					t.Fatal("applied")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := next.Partition("a", 0)
			wantEq(t, got, tt.want)
		})
	}
	// The sets survive a snapshot, and clearing them leaves nil.
	started, _ := mustApply(t, img, tests[0].rec)
	rebuilt, _ := mustApply(t, EmptyImage(), started.Records()...)
	p, _ := rebuilt.Partition("a", 0)
	wantEq(t, p.AddingReplicas, ids(3))
	cleared, d := mustApply(t, started, PartitionChangeRecord{TopicID: topicA, Partition: 0,
		Leader: 2, Replicas: ids(3, 2), ISR: ids(2), AddingReplicas: []int32{}, RemovingReplicas: []int32{}})
	p, _ = cleared.Partition("a", 0)
	if p.AddingReplicas != nil || p.RemovingReplicas != nil || p.IsReassigning() {
		t.Fatalf("sets not cleared: %+v", p)
	}
	// Broker 1 left the replicas: its LocalChanges say delete.
	wantEq(t, d.LocalChanges(1).Deleted, []TopicPartition{{Topic: "a", TopicID: topicA, Partition: 0}})
}

func TestMergeReassignment(t *testing.T) {
	tests := []struct {
		name            string
		current, target []int32
		want            assignment
	}{
		{"move both", ids(1, 2), ids(3, 4), assignment{ids(3, 4, 1, 2), ids(3, 4), ids(1, 2)}},
		{"replace one, sets sorted", ids(5, 1, 2), ids(2, 4, 3), assignment{ids(2, 4, 3, 1, 5), ids(3, 4), ids(1, 5)}},
		{"reorder only", ids(1, 2, 3), ids(3, 1, 2), assignment{ids(3, 1, 2), []int32{}, []int32{}}},
		{"grow", ids(1), ids(1, 2), assignment{ids(1, 2), ids(2), []int32{}}},
		{"shrink", ids(1, 2, 3), ids(2), assignment{ids(2, 1, 3), []int32{}, ids(1, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantEq(t, mergeReassignment(tt.current, tt.target), tt.want)
		})
	}
}

func TestCompleteReassignment(t *testing.T) {
	tests := []struct {
		name     string
		a        assignment
		isr      []int32
		want     assignment
		wantISR  []int32
		complete bool
	}{
		{"not reassigning", assignment{Replicas: ids(1, 2)}, ids(1, 2), assignment{}, nil, false},
		{"a target replica is missing", assignment{ids(3, 4, 1, 2), ids(3, 4), ids(1, 2)}, ids(1, 2, 3), assignment{}, nil, false},
		{"every target replica in the ISR", assignment{ids(3, 4, 1, 2), ids(3, 4), ids(1, 2)}, ids(1, 2, 3, 4),
			assignment{ids(3, 4), []int32{}, []int32{}}, ids(3, 4), true},
		{"removed replicas need not be in the ISR", assignment{ids(1, 3, 2), ids(3), ids(2)}, ids(3, 1),
			assignment{ids(1, 3), []int32{}, []int32{}}, ids(3, 1), true},
		{"only removing replicas in the ISR", assignment{ids(3, 1), ids(3), ids(1)}, ids(1), assignment{}, nil, false},
		{"adding only", assignment{ids(1, 2), ids(2), []int32{}}, ids(1, 2),
			assignment{ids(1, 2), []int32{}, []int32{}}, ids(1, 2), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, isr, ok := completeReassignment(tt.a, tt.isr)
			wantEq(t, ok, tt.complete)
			if ok {
				wantEq(t, got, tt.want)
				wantEq(t, isr, tt.wantISR)
			}
		})
	}
}

func reassigning(replicas, isr []int32, leader int32, adding, removing []int32) PartitionImage {
	return PartitionImage{Replicas: replicas, ISR: isr, Leader: leader, AddingReplicas: adding, RemovingReplicas: removing}
}

// TestDecideCompletesReassignments covers the completion inside every
// partition change (Kafka's PartitionChangeBuilder.build).
func TestDecideCompletesReassignments(t *testing.T) {
	done := &assignment{ids(3, 4), []int32{}, []int32{}}
	tests := []struct {
		name   string
		p      PartitionImage
		isr    []int32
		usable usableBrokers
		want   partitionDecision
		rec    PartitionChangeRecord
	}{
		{"not complete: nothing changes", reassigning(ids(3, 4, 1, 2), ids(1, 2, 3), 1, ids(3, 4), ids(1, 2)),
			ids(1, 2, 3), usable(1, 2, 3, 4), partitionDecision{ISR: ids(1, 2, 3), Leader: 1}, PartitionChangeRecord{}},
		{"complete: the removed leader hands over to the first target replica in the ISR",
			reassigning(ids(3, 4, 1, 2), ids(1, 2, 3), 1, ids(3, 4), ids(1, 2)), ids(1, 2, 4, 3), usable(1, 2, 3, 4),
			partitionDecision{ISR: ids(4, 3), Leader: 3, Assignment: done},
			PartitionChangeRecord{TopicID: topicA, ISR: ids(4, 3), Leader: 3, Replicas: ids(3, 4), AddingReplicas: []int32{}, RemovingReplicas: []int32{}}},
		{"complete: a kept leader still gets a new epoch when replicas leave",
			reassigning(ids(1, 3, 2), ids(1, 2), 1, ids(3), ids(2)), ids(1, 2, 3), usable(1, 2, 3),
			partitionDecision{ISR: ids(1, 3), Leader: 1, Assignment: &assignment{ids(1, 3), []int32{}, []int32{}}},
			PartitionChangeRecord{TopicID: topicA, ISR: ids(1, 3), Leader: 1, Replicas: ids(1, 3), AddingReplicas: []int32{}, RemovingReplicas: []int32{}}},
		{"complete: an unusable target replica does not lead",
			reassigning(ids(3, 4, 1, 2), ids(1, 2, 3), 1, ids(3, 4), ids(1, 2)), ids(1, 3, 4), usable(1, 2, 4),
			partitionDecision{ISR: ids(3, 4), Leader: 4, Assignment: done},
			PartitionChangeRecord{TopicID: topicA, ISR: ids(3, 4), Leader: 4, Replicas: ids(3, 4), AddingReplicas: []int32{}, RemovingReplicas: []int32{}}},
		{"growing: no replica leaves, no epoch bump",
			reassigning(ids(1, 2), ids(1), 1, ids(2), nil), ids(1, 2), usable(1, 2),
			partitionDecision{ISR: ids(1, 2), Leader: 1, Assignment: &assignment{ids(1, 2), []int32{}, []int32{}}},
			PartitionChangeRecord{TopicID: topicA, ISR: ids(1, 2), Leader: NoLeaderChange, AddingReplicas: []int32{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.p, tt.isr, nil, acceptableLeader(tt.usable, NoLeader), electOnline)
			wantEq(t, d, tt.want)
			rec, ok := d.changeRecord(topicA, 0, tt.p)
			wantEq(t, ok, !reflect.DeepEqual(tt.rec, PartitionChangeRecord{}))
			if ok {
				wantEq(t, rec, tt.rec)
			}
		})
	}
}

// reassignCluster has brokers 1..4 unfenced and topic "t" with one
// partition on 1,2 (leader 1).
func reassignCluster(t *testing.T, props map[string]string) (*Controller, map[int32]int64) {
	t.Helper()
	c, _ := lifecycleController(t, props)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 4; id++ {
		epochs[id] = join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2)))
	return c, epochs
}

func reassign(t *testing.T, c *Controller, allowRF bool, reqs ...PartitionReassignment) []ReassignmentResult {
	t.Helper()
	res, err := c.AlterPartitionReassignments(context.Background(), reqs, allowRF)
	if err != nil {
		t.Fatalf("AlterPartitionReassignments: %v", err)
	}
	wantEq(t, len(res), len(reqs))
	return res
}

func listReassignments(t *testing.T, c *Controller, topics []TopicPartitions) []OngoingReassignment {
	t.Helper()
	got, err := c.ListPartitionReassignments(topics)
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	return got
}

func TestAlterPartitionReassignmentsErrors(t *testing.T) {
	c, _ := reassignCluster(t, nil)
	if _, err := registerInc(c, 9, 1); err != nil { // registered, fenced: a valid target
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     PartitionReassignment
		allowRF bool
		want    *kerr.Error
	}{
		{"unknown topic", PartitionReassignment{Topic: "nope", Partition: 0, Replicas: ids(1)}, true, kerr.UnknownTopicOrPartition},
		{"unknown partition", PartitionReassignment{Topic: "t", Partition: 1, Replicas: ids(1)}, true, kerr.UnknownTopicOrPartition},
		{"negative partition", PartitionReassignment{Topic: "t", Partition: -1, Replicas: ids(1)}, true, kerr.UnknownTopicOrPartition},
		{"empty target", PartitionReassignment{Topic: "t", Partition: 0, Replicas: []int32{}}, true, kerr.InvalidReplicaAssignment},
		{"broker twice", PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 3)}, true, kerr.InvalidReplicaAssignment},
		{"unregistered broker", PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 7)}, true, kerr.InvalidReplicaAssignment},
		{"replication factor change refused", PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(1, 2, 3)}, false, kerr.InvalidReplicationFactor},
		{"cancel without a reassignment", PartitionReassignment{Topic: "t", Partition: 0}, true, kerr.NoReassignmentInProgress},
		{"same replicas: nothing to do", PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(1, 2)}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.Image().Offset
			res := reassign(t, c, tt.allowRF, tt.req)
			wantKerr(t, res[0].Err, tt.want)
			wantEq(t, res[0].Topic, tt.req.Topic)
			wantEq(t, res[0].Partition, tt.req.Partition)
			wantEq(t, c.Image().Offset, before)
		})
	}
	t.Run("a partition named twice", func(t *testing.T) {
		res := reassign(t, c, true, PartitionReassignment{Topic: "t", Replicas: ids(3, 4)}, PartitionReassignment{Topic: "t", Replicas: ids(2, 3)})
		wantKerr(t, res[0].Err, kerr.InvalidRequest)
		wantKerr(t, res[1].Err, kerr.InvalidRequest)
	})
	t.Run("not the active controller", func(t *testing.T) {
		c.Close()
		if _, err := c.AlterPartitionReassignments(context.Background(), []PartitionReassignment{{Topic: "t", Replicas: ids(3)}}, true); err == nil {
			t.Fatal("a closed controller reassigned")
		}
		_, err := c.ListPartitionReassignments(nil)
		wantKerr(t, err, kerr.NotController)
	})
}

// TestReassignmentMovesBothReplicas walks a reassignment of [1,2] to [3,4]
// through its stages: the merged assignment, catching up through
// AlterPartition, and completion with a new leader.
func TestReassignmentMovesBothReplicas(t *testing.T) {
	c, epochs := reassignCluster(t, nil)
	res := reassign(t, c, false, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 4)})
	wantKerr(t, res[0].Err, nil)
	p := partitionOf(t, c, "t", 0)
	wantEq(t, p, PartitionImage{Replicas: ids(3, 4, 1, 2), ISR: ids(1, 2), Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1,
		AddingReplicas: ids(3, 4), RemovingReplicas: ids(1, 2)})
	want := []OngoingReassignment{{Topic: "t", Partition: 0, Replicas: ids(3, 4, 1, 2), AddingReplicas: ids(3, 4), RemovingReplicas: ids(1, 2)}}
	wantEq(t, listReassignments(t, c, nil), want)
	wantEq(t, listReassignments(t, c, []TopicPartitions{{Topic: "t", Partitions: ids(0, 5)}, {Topic: "gone", Partitions: ids(0)}}), want)
	wantEq(t, len(listReassignments(t, c, []TopicPartitions{{Topic: "t", Partitions: ids(1)}})), 0)

	// Broker 3 catches up: not done, broker 4 is missing.
	r := alter(t, c, 1, epochs[1], "t", 0, 1, members(1, 2, 3))
	wantKerr(t, r.Err, nil)
	wantEq(t, partitionOf(t, c, "t", 0).IsReassigning(), true)
	// Broker 4 catches up: the ISR holds the target, the reassignment
	// completes and leadership leaves the removed broker 1.
	r = alter(t, c, 1, epochs[1], "t", 0, 2, members(1, 2, 3, 4))
	wantKerr(t, r.Err, kerr.NewLeaderElected)
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(3, 4), ISR: ids(3, 4), Leader: 3, LeaderEpoch: 1, PartitionEpoch: 3})
	wantEq(t, len(listReassignments(t, c, nil)), 0)
}

func TestReassignmentWithoutNewReplicasCompletesAtOnce(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	for id := int32(1); id <= 3; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2, 3)))
	res := reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(2, 1)})
	wantKerr(t, res[0].Err, nil)
	// Broker 3 dropped: the leader stays, at a new epoch.
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(2, 1), ISR: ids(1, 2), Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	wantEq(t, len(listReassignments(t, c, nil)), 0)
}

func TestCancelReassignment(t *testing.T) {
	c, epochs := reassignCluster(t, nil)
	reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 4)})
	r := alter(t, c, 1, epochs[1], "t", 0, 1, members(1, 2, 3))
	wantKerr(t, r.Err, nil)

	res := reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0})
	wantKerr(t, res[0].Err, nil)
	// The adding replicas leave the replicas and the ISR, at a new leader
	// epoch (Kafka's PartitionReassignmentRevert).
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(1, 2), ISR: ids(1, 2), Leader: 1, LeaderEpoch: 1, PartitionEpoch: 3})
	res = reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0})
	wantKerr(t, res[0].Err, kerr.NoReassignmentInProgress)
}

// TestNewTargetReplacesReassignment: a target given while a reassignment
// is in progress is merged with the current (merged) replicas, as Kafka
// does: a replica the first reassignment was adding counts as a current
// replica.
func TestNewTargetReplacesReassignment(t *testing.T) {
	c, _ := reassignCluster(t, nil)
	reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(2, 3)})
	wantEq(t, partitionOf(t, c, "t", 0).Replicas, ids(2, 3, 1))
	res := reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 4)})
	wantKerr(t, res[0].Err, nil)
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(3, 4, 1, 2), ISR: ids(1, 2), Leader: 1, PartitionEpoch: 2,
		AddingReplicas: ids(4), RemovingReplicas: ids(1, 2)})
	// The replication factor check counts the target of the reassignment
	// in progress.
	res = reassign(t, c, false, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(4)})
	wantKerr(t, res[0].Err, kerr.InvalidReplicationFactor)
}

// TestCancelNeedingUncleanElection: every ISR member is being added, so
// reverting leaves no ISR; that needs unclean.leader.election.enable.
func TestCancelNeedingUncleanElection(t *testing.T) {
	for _, unclean := range []bool{false, true} {
		c, _ := lifecycleController(t, nil)
		for id := int32(1); id <= 3; id++ {
			join(t, c, id)
		}
		createTopic(t, c, assign("t", ids(1)))
		tid := c.Image().Topics["t"].ID
		// As if [1] -> [2,3] ran and broker 1 then left the ISR.
		c.opMu.Lock()
		err := c.proposeLocked(context.Background(), []Record{PartitionChangeRecord{
			TopicID: tid, Leader: 2, Replicas: ids(2, 3, 1), ISR: ids(2), AddingReplicas: ids(2, 3), RemovingReplicas: ids(1),
		}})
		if err == nil && unclean {
			v := "true"
			err = c.proposeLocked(context.Background(), []Record{ConfigRecord{ResourceType: ConfigResourceTopic,
				ResourceName: "t", Name: "unclean.leader.election.enable", Value: &v}})
		}
		c.opMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		res := reassign(t, c, true, PartitionReassignment{Topic: "t", Partition: 0})
		if !unclean {
			wantKerr(t, res[0].Err, kerr.InvalidReplicaAssignment)
			continue
		}
		wantKerr(t, res[0].Err, nil)
		wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(1), ISR: ids(1), Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	}
}

// TestReassignmentAwayFromUnregisteredBroker: the removed replica is on a
// dead broker that was unregistered; the reassignment completes once the
// target replicas are in the ISR.
func TestReassignmentAwayFromUnregisteredBroker(t *testing.T) {
	c, epochs := reassignCluster(t, nil)
	if err := c.UnregisterBroker(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	wantEq(t, partitionOf(t, c, "t", 0).ISR, ids(1))
	res := reassign(t, c, false, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(1, 3)})
	wantKerr(t, res[0].Err, nil)
	wantEq(t, partitionOf(t, c, "t", 0).Replicas, ids(1, 3, 2))
	r := alter(t, c, 1, epochs[1], "t", 0, partitionOf(t, c, "t", 0).PartitionEpoch, members(1, 3))
	wantKerr(t, r.Err, nil)
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(1, 3), ISR: ids(1, 3), Leader: 1, LeaderEpoch: 1, PartitionEpoch: 3})
	wantEq(t, r.LeaderEpoch, int32(1))
	wantEq(t, r.ISR, ids(1, 3))
}

// TestFencingDuringReassignment: a broker change goes through the same
// decision as every other change. The removing leader's session expires:
// it leaves the ISR and the next ISR member in merged order (target
// replicas first) leads; the reassignment stays in progress until the
// added replica catches up, then completes without the dead broker.
func TestFencingDuringReassignment(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		epochs[id] = join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2)))
	reassign(t, c, false, PartitionReassignment{Topic: "t", Partition: 0, Replicas: ids(3, 2)})
	wantEq(t, partitionOf(t, c, "t", 0).Replicas, ids(3, 2, 1))

	start := clock.Now()
	clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2, 3)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), start.Add(sessionTimeout+time.Millisecond)), nil)
	p := partitionOf(t, c, "t", 0)
	wantEq(t, p, PartitionImage{Replicas: ids(3, 2, 1), ISR: ids(2), Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2,
		AddingReplicas: ids(3), RemovingReplicas: ids(1)})

	r := alter(t, c, 2, epochs[2], "t", 1, 2, members(2, 3))
	wantKerr(t, r.Err, nil)
	wantEq(t, partitionOf(t, c, "t", 0), PartitionImage{Replicas: ids(3, 2), ISR: ids(2, 3), Leader: 2, LeaderEpoch: 2, PartitionEpoch: 3})
}

func TestReassignmentSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := testController(t, dir, nil)
	for id := int32(1); id <= 3; id++ {
		register(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1)))
	res, err := c.AlterPartitionReassignments(context.Background(), []PartitionReassignment{{Topic: "t", Replicas: ids(2, 3)}}, true)
	if err != nil || res[0].Err != nil {
		t.Fatalf("reassign: %v %v", err, res)
	}
	want := partitionOf(t, c, "t", 0)
	c.Close()
	// SnapshotEvery is 5: the reopened image comes from a snapshot plus
	// the log, both carrying the version 1 records.
	again := testController(t, dir, nil)
	wantEq(t, partitionOf(t, again, "t", 0), want)
	wantEq(t, want.AddingReplicas, ids(2, 3))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := again.WaitForOffset(ctx, again.Image().Offset); err != nil {
		t.Fatal(err)
	}
}
