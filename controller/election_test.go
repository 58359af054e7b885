package controller

import (
	"testing"
)

func usable(ids ...int32) usableBrokers {
	u := usableBrokers{}
	for _, id := range ids {
		u[id] = true
	}
	return u
}

func part(replicas, isr []int32, leader int32) PartitionImage {
	return PartitionImage{Replicas: replicas, ISR: isr, Leader: leader}
}

func ids(v ...int32) []int32 { return v }

func TestDecidePartition(t *testing.T) {
	tests := []struct {
		name    string
		p       PartitionImage
		remove  int32
		usable  usableBrokers
		unclean bool
		want    partitionDecision
	}{
		{"nothing to do", part(ids(1, 2, 3), ids(1, 2, 3), 1), NoLeader, usable(1, 2, 3), false,
			partitionDecision{ISR: ids(1, 2, 3), Leader: 1}},
		{"follower leaves the ISR, leader stays", part(ids(1, 2, 3), ids(1, 2, 3), 1), 3, usable(1, 2), false,
			partitionDecision{ISR: ids(1, 2), Leader: 1}},
		{"leader leaves: first ISR replica in replica order leads", part(ids(1, 3, 2), ids(1, 2, 3), 1), 1, usable(2, 3), false,
			partitionDecision{ISR: ids(2, 3), Leader: 3}},
		{"unusable ISR members are passed over", part(ids(1, 2, 3), ids(1, 2, 3), 1), 1, usable(3), false,
			partitionDecision{ISR: ids(2, 3), Leader: 3}},
		{"the last ISR member stays in the ISR, partition offline", part(ids(1, 2), ids(1), 1), 1, usable(2), false,
			partitionDecision{ISR: ids(1), Leader: NoLeader}},
		{"unclean: an out-of-sync live replica leads alone", part(ids(1, 2, 3), ids(1), 1), 1, usable(3), true,
			partitionDecision{ISR: ids(3), Leader: 3, Unclean: true}},
		{"unclean prefers a clean choice", part(ids(1, 2, 3), ids(1, 2), 1), 1, usable(2, 3), true,
			partitionDecision{ISR: ids(2), Leader: 2}},
		{"unclean with no live replica stays offline", part(ids(1, 2), ids(1), 1), 1, usable(), true,
			partitionDecision{ISR: ids(1), Leader: NoLeader}},
		{"removed broker is never the unclean choice", part(ids(1, 2), ids(2), NoLeader), 1, usable(1), true,
			partitionDecision{ISR: ids(2), Leader: NoLeader}},
		{"leaderless partition gets back its ISR member", part(ids(1, 2), ids(1), NoLeader), NoLeader, usable(1, 2), false,
			partitionDecision{ISR: ids(1), Leader: 1}},
		{"leaderless partition stays offline without its ISR member", part(ids(1, 2), ids(1), NoLeader), NoLeader, usable(2), false,
			partitionDecision{ISR: ids(1), Leader: NoLeader}},
		{"leaderless partition with unclean election", part(ids(1, 2), ids(1), NoLeader), NoLeader, usable(2), true,
			partitionDecision{ISR: ids(2), Leader: 2, Unclean: true}},
		{"an unusable leader is replaced even if nothing is removed", part(ids(1, 2), ids(1, 2), 1), NoLeader, usable(2), false,
			partitionDecision{ISR: ids(1, 2), Leader: 2}},
		{"removing a non-member changes nothing", part(ids(1, 2), ids(1, 2), 1), 3, usable(1, 2), false,
			partitionDecision{ISR: ids(1, 2), Leader: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := part(append([]int32(nil), tt.p.Replicas...), append([]int32(nil), tt.p.ISR...), tt.p.Leader)
			got := decidePartition(tt.p, tt.remove, tt.usable, tt.unclean)
			wantEq(t, got, tt.want)
			wantEq(t, tt.p, before) // the image's slices are never modified
		})
	}
}

func TestChangeRecord(t *testing.T) {
	p := PartitionImage{Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9}
	tests := []struct {
		name string
		d    partitionDecision
		want PartitionChangeRecord
		ok   bool
	}{
		{"no change", partitionDecision{ISR: ids(1, 2, 3), Leader: 1}, PartitionChangeRecord{}, false},
		{"ISR only", partitionDecision{ISR: ids(1, 2), Leader: 1},
			PartitionChangeRecord{TopicID: topicA, Partition: 3, ISR: ids(1, 2), Leader: NoLeaderChange}, true},
		{"leader only", partitionDecision{ISR: ids(1, 2, 3), Leader: 2},
			PartitionChangeRecord{TopicID: topicA, Partition: 3, Leader: 2}, true},
		{"both", partitionDecision{ISR: ids(3), Leader: NoLeader},
			PartitionChangeRecord{TopicID: topicA, Partition: 3, ISR: ids(3), Leader: NoLeader}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.d.changeRecord(topicA, 3, p)
			wantEq(t, ok, tt.ok)
			if ok {
				wantEq(t, got, tt.want)
			}
		})
	}
}

// lifecycleImage has brokers 1..4 (epochs 10..13; broker 4 fenced) and
// topics "a" (two partitions) and "b" (one).
func lifecycleImage(t *testing.T) *Image {
	t.Helper()
	img, _ := mustApply(t, EmptyImage(),
		ClusterIDRecord{ClusterID: "cluster"},
		RegisterBrokerRecord{NodeID: 1, Epoch: 10},
		RegisterBrokerRecord{NodeID: 2, Epoch: 11},
		RegisterBrokerRecord{NodeID: 3, Epoch: 12},
		RegisterBrokerRecord{NodeID: 4, Epoch: 13, Fenced: true},
		TopicRecord{Name: "a", ID: topicA},
		PartitionRecord{TopicID: topicA, Partition: 0, Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7},
		PartitionRecord{TopicID: topicA, Partition: 1, Replicas: ids(2, 1, 4), ISR: ids(2, 1), Leader: 2},
		TopicRecord{Name: "b", ID: topicB},
		PartitionRecord{TopicID: topicB, Partition: 0, Replicas: ids(1, 4), ISR: ids(1), Leader: 1},
	)
	return img
}

func TestBrokerRecords(t *testing.T) {
	img := lifecycleImage(t)
	fenced1 := mustFence(t, img, 1)
	tests := []struct {
		name string
		base *Image
		recs []Record
		want []Record
	}{
		{"fence a leader", img, fenceBrokerRecords(img, 1, usable(1, 2, 3), noUnclean), []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: ids(2, 3), Leader: 2},
			PartitionChangeRecord{TopicID: topicA, Partition: 1, ISR: ids(2), Leader: NoLeaderChange},
			PartitionChangeRecord{TopicID: topicB, Partition: 0, Leader: NoLeader},
			FenceBrokerRecord{NodeID: 1, Epoch: 10},
		}},
		{"fence a leader, unclean for topic b", img, fenceBrokerRecords(img, 1, usable(1, 2, 3), func(topic string) bool { return topic == "b" }), []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: ids(2, 3), Leader: 2},
			PartitionChangeRecord{TopicID: topicA, Partition: 1, ISR: ids(2), Leader: NoLeaderChange},
			// Broker 4, the only other replica, is fenced: nobody can lead.
			PartitionChangeRecord{TopicID: topicB, Partition: 0, Leader: NoLeader},
			FenceBrokerRecord{NodeID: 1, Epoch: 10},
		}},
		{"fence a follower", img, fenceBrokerRecords(img, 3, usable(1, 2, 3), noUnclean), []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: ids(1, 2), Leader: NoLeaderChange},
			FenceBrokerRecord{NodeID: 3, Epoch: 12},
		}},
		{"fence an unknown broker", img, fenceBrokerRecords(img, 9, usable(1, 2, 3), noUnclean), nil},
		{"unfence lets a broker lead where it is the ISR", fenced1, unfenceBrokerRecords(fenced1, 1, usable(2, 3), noUnclean), []Record{
			UnfenceBrokerRecord{NodeID: 1, Epoch: 10},
			PartitionChangeRecord{TopicID: topicB, Partition: 0, Leader: 1},
		}},
		{"unfence with unclean elects an out-of-sync replica", fenced1, unfenceBrokerRecords(fenced1, 4, usable(2, 3), func(string) bool { return true }), []Record{
			UnfenceBrokerRecord{NodeID: 4, Epoch: 13},
			PartitionChangeRecord{TopicID: topicB, Partition: 0, ISR: ids(4), Leader: 4},
		}},
		{"controlled shutdown moves leaderships and ISR places", img, controlledShutdownRecords(img, 2, usable(1, 2, 3), noUnclean), []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: ids(1, 3), Leader: NoLeaderChange},
			PartitionChangeRecord{TopicID: topicA, Partition: 1, ISR: ids(1), Leader: 1},
		}},
		{"unregister", img, unregisterBrokerRecords(img, 3, usable(1, 2, 3), noUnclean), []Record{
			PartitionChangeRecord{TopicID: topicA, Partition: 0, ISR: ids(1, 2), Leader: NoLeaderChange},
			UnregisterBrokerRecord{NodeID: 3, Epoch: 12},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantEq(t, tt.recs, tt.want)
			// Whatever the decisions, they must apply to the image.
			if _, _, err := Apply(tt.base, tt.recs); err != nil {
				t.Fatalf("records do not apply: %v", err)
			}
		})
	}
}

// mustFence applies the fencing of broker id to img.
func mustFence(t *testing.T, img *Image, id int32) *Image {
	t.Helper()
	usable := usableFrom(img, nil)
	next, _ := mustApply(t, img, fenceBrokerRecords(img, id, usable, noUnclean)...)
	return next
}

func TestFenceThenUnfenceRestoresLeadership(t *testing.T) {
	img := lifecycleImage(t)
	fenced := mustFence(t, img, 1)
	p, _ := fenced.Partition("b", 0)
	wantEq(t, p, PartitionImage{Replicas: ids(1, 4), ISR: ids(1), Leader: NoLeader, LeaderEpoch: 1, PartitionEpoch: 1})
	back, _ := mustApply(t, fenced, unfenceBrokerRecords(fenced, 1, usableFrom(fenced, nil), noUnclean)...)
	p, _ = back.Partition("b", 0)
	wantEq(t, p, PartitionImage{Replicas: ids(1, 4), ISR: ids(1), Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	// Partition a-0 was re-elected when 1 was fenced and does not move back:
	// preferred leader election is a separate operation.
	p, _ = back.Partition("a", 0)
	wantEq(t, p, PartitionImage{Replicas: ids(1, 2, 3), ISR: ids(2, 3), Leader: 2, LeaderEpoch: 6, PartitionEpoch: 8})
	wantEq(t, leadsAny(back, 1), true)
	wantEq(t, leadsAny(back, 3), false)
}

func TestNextBrokerState(t *testing.T) {
	hb := func(offset int64, fence, shutdown bool) BrokerHeartbeat {
		return BrokerHeartbeat{NodeID: 1, BrokerEpoch: 10, CurrentMetadataOffset: offset, WantFence: fence, WantShutDown: shutdown}
	}
	tests := []struct {
		name string
		in   heartbeatInput
		want brokerState
	}{
		{"fenced, behind its registration", heartbeatInput{Current: brokerFenced, Heartbeat: hb(9, false, false), RegisterOffset: 10}, brokerFenced},
		{"fenced, caught up", heartbeatInput{Current: brokerFenced, Heartbeat: hb(10, false, false), RegisterOffset: 10}, brokerUnfenced},
		{"fenced, caught up but wants fence", heartbeatInput{Current: brokerFenced, Heartbeat: hb(10, true, false), RegisterOffset: 10}, brokerFenced},
		{"fenced, wants shutdown", heartbeatInput{Current: brokerFenced, Heartbeat: hb(0, false, true), RegisterOffset: 10}, brokerShutdownNow},
		{"unfenced stays", heartbeatInput{Current: brokerUnfenced, Heartbeat: hb(20, false, false), RegisterOffset: 10}, brokerUnfenced},
		{"unfenced wants fence", heartbeatInput{Current: brokerUnfenced, Heartbeat: hb(20, true, false), RegisterOffset: 10}, brokerFenced},
		{"unfenced wants fence and shutdown", heartbeatInput{Current: brokerUnfenced, Heartbeat: hb(20, true, true), RegisterOffset: 10, Leads: true}, brokerShutdownNow},
		{"unfenced leader wants shutdown", heartbeatInput{Current: brokerUnfenced, Heartbeat: hb(20, false, true), RegisterOffset: 10, Leads: true}, brokerControlledShutdown},
		{"unfenced non-leader wants shutdown", heartbeatInput{Current: brokerUnfenced, Heartbeat: hb(20, false, true), RegisterOffset: 10}, brokerShutdownNow},
		{"shutting down, still leads", heartbeatInput{Current: brokerControlledShutdown, Heartbeat: hb(30, false, true), Leads: true, ShutdownOffset: 25, LowestActiveOffset: 40}, brokerControlledShutdown},
		{"shutting down, others behind", heartbeatInput{Current: brokerControlledShutdown, Heartbeat: hb(30, false, true), ShutdownOffset: 25, LowestActiveOffset: 24}, brokerControlledShutdown},
		{"shutting down, others caught up", heartbeatInput{Current: brokerControlledShutdown, Heartbeat: hb(30, false, true), ShutdownOffset: 25, LowestActiveOffset: 25}, brokerShutdownNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantEq(t, nextBrokerState(tt.in), tt.want)
		})
	}
}
