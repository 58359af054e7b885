package controller

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestDecidePreferredAndUnclean(t *testing.T) {
	tests := []struct {
		name   string
		p      PartitionImage
		usable usableBrokers
		mode   electionMode
		want   partitionDecision
	}{
		{"preferred in the ISR takes over", part(ids(1, 2, 3), ids(2, 3, 1), 2), usable(1, 2, 3), electPreferred,
			partitionDecision{ISR: ids(2, 3, 1), Leader: 1}},
		{"preferred not in the ISR: the leader stays", part(ids(1, 2, 3), ids(2, 3), 2), usable(1, 2, 3), electPreferred,
			partitionDecision{ISR: ids(2, 3), Leader: 2}},
		{"preferred not usable: the leader stays", part(ids(1, 2, 3), ids(1, 2, 3), 2), usable(2, 3), electPreferred,
			partitionDecision{ISR: ids(1, 2, 3), Leader: 2}},
		{"leaderless, preferred away: another ISR member", part(ids(1, 2, 3), ids(1, 3), NoLeader), usable(2, 3), electPreferred,
			partitionDecision{ISR: ids(1, 3), Leader: 3}},
		{"unclean: an ISR member first", part(ids(1, 2, 3), ids(1, 3), NoLeader), usable(2, 3), electUnclean,
			partitionDecision{ISR: ids(1, 3), Leader: 3}},
		{"unclean: any live replica alone in the ISR", part(ids(1, 2, 3), ids(1), NoLeader), usable(2, 3), electUnclean,
			partitionDecision{ISR: ids(2), Leader: 2, Unclean: true}},
		{"unclean: nobody alive", part(ids(1, 2), ids(1), NoLeader), usable(3), electUnclean,
			partitionDecision{ISR: ids(1), Leader: NoLeader}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantEq(t, decide(tt.p, tt.p.ISR, nil, acceptableLeader(tt.usable, NoLeader), tt.mode), tt.want)
		})
	}
}

func elect(t *testing.T, c *Controller, typ ElectionType, topics []TopicPartitions) []ElectionResult {
	t.Helper()
	res, err := c.ElectLeaders(context.Background(), typ, topics)
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	return res
}

// setLeader moves a partition's leadership by hand, as if an earlier
// failover had.
func setLeader(t *testing.T, c *Controller, topic string, leader int32) {
	t.Helper()
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.proposeLocked(context.Background(), []Record{PartitionChangeRecord{
		TopicID: c.Image().Topics[topic].ID, Leader: leader,
	}}); err != nil {
		t.Fatal(err)
	}
}

// TestElectPreferredLeaderAfterFailover: the preferred replica's session
// expires and leadership moves; back, it is refused until it rejoins the
// ISR, then a preferred election returns leadership to it at a new epoch.
func TestElectPreferredLeaderAfterFailover(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		epochs[id] = join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2, 3)))
	start := clock.Now()
	clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2, 3)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), start.Add(sessionTimeout+time.Millisecond)), nil)
	wantEq(t, partitionOf(t, c, "t", 0).Leader, int32(2))

	only := []TopicPartitions{{Topic: "t", Partitions: ids(0)}}
	res := elect(t, c, PreferredElection, only)
	wantKerr(t, res[0].Err, kerr.PreferredLeaderNotAvailable) // fenced
	beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epochs[1], CurrentMetadataOffset: c.Image().Offset})
	res = elect(t, c, PreferredElection, only)
	wantKerr(t, res[0].Err, kerr.PreferredLeaderNotAvailable) // not in the ISR
	p := partitionOf(t, c, "t", 0)
	wantKerr(t, alter(t, c, 2, epochs[2], "t", p.LeaderEpoch, p.PartitionEpoch, members(2, 3, 1)).Err, nil)

	res = elect(t, c, PreferredElection, only)
	wantEq(t, res, []ElectionResult{{Topic: "t", Partition: 0}})
	after := partitionOf(t, c, "t", 0)
	wantEq(t, after.Leader, int32(1))
	wantEq(t, after.LeaderEpoch, p.LeaderEpoch+1)
	wantEq(t, after.ISR, ids(2, 3, 1))

	res = elect(t, c, PreferredElection, only)
	wantKerr(t, res[0].Err, kerr.ElectionNotNeeded)
}

func TestElectLeadersRequests(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	for id := int32(1); id <= 3; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("a", ids(1, 2), ids(2, 1)))
	createTopic(t, c, assign("b", ids(3, 1)))
	setLeader(t, c, "b", 1)

	// All partitions: the ones needing no election are left out.
	res := elect(t, c, PreferredElection, nil)
	wantEq(t, res, []ElectionResult{{Topic: "b", Partition: 0}})
	wantEq(t, partitionOf(t, c, "b", 0).Leader, int32(3))

	res = elect(t, c, PreferredElection, []TopicPartitions{
		{Topic: "a", Partitions: ids(1, 7, 1)},
		{Topic: "nope", Partitions: ids(0)},
	})
	wantEq(t, len(res), 4)
	wantKerr(t, res[0].Err, kerr.ElectionNotNeeded)
	wantKerr(t, res[1].Err, kerr.UnknownTopicOrPartition)
	wantEq(t, res[2], res[0]) // a repeat gets the first answer
	wantKerr(t, res[3].Err, kerr.UnknownTopicOrPartition)
	wantEq(t, res[3].Topic, "nope")

	before := c.Image().Offset
	_, err := c.ElectLeaders(context.Background(), ElectionType(2), nil)
	wantKerr(t, err, kerr.InvalidRequest)
	wantEq(t, c.Image().Offset, before)
}

// TestElectUncleanLeader: UNCLEAN elects only for partitions without a
// leader, from the ISR if it can, else any live replica, whatever the
// topic's unclean.leader.election.enable says.
func TestElectUncleanLeader(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	for id := int32(1); id <= 3; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("lost", ids(1, 2)))
	createTopic(t, c, assign("fine", ids(2, 3)))
	// 2 leaves lost's ISR, then 1 dies: lost is offline with ISR [1].
	tid := c.Image().Topics["lost"].ID
	c.opMu.Lock()
	err := c.proposeLocked(context.Background(), []Record{PartitionChangeRecord{TopicID: tid, ISR: ids(1), Leader: NoLeaderChange}})
	c.opMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2, 3)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), start.Add(sessionTimeout+time.Millisecond)), nil)
	before := partitionOf(t, c, "lost", 0)
	wantEq(t, before.Leader, NoLeader)

	res := elect(t, c, UncleanElection, []TopicPartitions{{Topic: "lost", Partitions: ids(0)}, {Topic: "fine", Partitions: ids(0)}})
	wantKerr(t, res[0].Err, nil)
	wantKerr(t, res[1].Err, kerr.ElectionNotNeeded)
	wantEq(t, partitionOf(t, c, "lost", 0), PartitionImage{Replicas: ids(1, 2), ISR: ids(2), Leader: 2,
		LeaderEpoch: before.LeaderEpoch + 1, PartitionEpoch: before.PartitionEpoch + 1})

	// Nobody alive: ELIGIBLE_LEADERS_NOT_AVAILABLE.
	createTopic(t, c, assign("solo", ids(3)))
	clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), clock.Advance(sessionTimeout/2+time.Millisecond)), nil)
	res = elect(t, c, UncleanElection, []TopicPartitions{{Topic: "solo", Partitions: ids(0)}})
	wantKerr(t, res[0].Err, kerr.EligibleLeadersNotAvailable)
}
