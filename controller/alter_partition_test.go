package controller

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func members(ids ...int32) []ISRMember {
	m := make([]ISRMember, len(ids))
	for i, id := range ids {
		m[i] = ISRMember{BrokerID: id, BrokerEpoch: -1}
	}
	return m
}

// alterCluster has brokers 1..3 unfenced, 4 registered but fenced, topic
// "t" (replicas 1,2,3, leader 1, ISR 1,2 after one shrink: leader epoch 0,
// partition epoch 1) and topic "u" (replicas 1,4, ISR 1).
func alterCluster(t *testing.T) (*Controller, map[int32]int64) {
	t.Helper()
	c, _ := lifecycleController(t, nil)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		epochs[id] = join(t, c, id)
	}
	createTopic(t, c, assign("t", []int32{1, 2, 3}))
	createTopic(t, c, assign("u", []int32{1, 2}))
	var err error
	if epochs[4], err = registerInc(c, 4, 1); err != nil {
		t.Fatal(err)
	}
	// Replace u's assignment with one naming the fenced broker 4, as a
	// partition created before 4 was fenced would have.
	u := c.Image().Topics["u"]
	c.opMu.Lock()
	err = c.proposeLocked(context.Background(), []Record{PartitionChangeRecord{
		TopicID: u.ID, Partition: 0, Replicas: []int32{1, 4}, ISR: []int32{1}, Leader: NoLeaderChange,
	}})
	c.opMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	res := alter(t, c, 1, epochs[1], "t", 0, 0, members(1, 2))
	wantKerr(t, res.Err, nil)
	return c, epochs
}

func alter(t *testing.T, c *Controller, broker int32, epoch int64, topic string, leaderEpoch, partitionEpoch int32, isr []ISRMember) AlterPartitionResult {
	t.Helper()
	results, err := c.AlterPartition(context.Background(), AlterPartitionRequest{BrokerID: broker, BrokerEpoch: epoch,
		Topics: []AlterPartitionTopic{{TopicID: c.Image().Topics[topic].ID, Partitions: []AlterPartitionProposal{{
			Partition: 0, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, NewISR: isr,
		}}}}})
	if err != nil {
		t.Fatalf("AlterPartition: %v", err)
	}
	wantEq(t, len(results), 1)
	return results[0]
}

func TestAlterPartition(t *testing.T) {
	tests := []struct {
		name           string
		broker         int32
		topic          string
		leaderEpoch    int32
		partitionEpoch int32
		isr            []ISRMember
		want           *kerr.Error
		wantISR        []int32
	}{
		{name: "expand", broker: 1, topic: "t", partitionEpoch: 1, isr: members(1, 2, 3), wantISR: []int32{1, 2, 3}},
		{name: "shrink", broker: 1, topic: "t", partitionEpoch: 1, isr: members(1), wantISR: []int32{1}},
		{name: "no change", broker: 1, topic: "t", partitionEpoch: 1, isr: members(1, 2), wantISR: []int32{1, 2}},
		{name: "member epochs checked", broker: 1, topic: "t", partitionEpoch: 1,
			isr: []ISRMember{{1, -1}, {2, -1}, {3, 3}}, want: kerr.IneligibleReplica},
		{name: "stale partition epoch", broker: 1, topic: "t", partitionEpoch: 0, isr: members(1, 2, 3), want: kerr.InvalidUpdateVersion},
		{name: "partition epoch ahead", broker: 1, topic: "t", partitionEpoch: 2, isr: members(1, 2, 3), want: kerr.NotController},
		{name: "leader epoch ahead", broker: 1, topic: "t", leaderEpoch: 1, partitionEpoch: 1, isr: members(1, 2, 3), want: kerr.NotController},
		{name: "old leader epoch", broker: 1, topic: "t", leaderEpoch: -1, partitionEpoch: 1, isr: members(1, 2, 3), want: kerr.FencedLeaderEpoch},
		{name: "not the leader", broker: 2, topic: "t", partitionEpoch: 1, isr: members(1, 2, 3), want: kerr.InvalidRequest},
		{name: "not a replica", broker: 1, topic: "t", partitionEpoch: 1, isr: members(1, 5), want: kerr.InvalidRequest},
		{name: "broker twice", broker: 1, topic: "t", partitionEpoch: 1, isr: members(1, 2, 2), want: kerr.InvalidRequest},
		{name: "leader left out", broker: 1, topic: "t", partitionEpoch: 1, isr: members(2, 3), want: kerr.InvalidRequest},
		{name: "empty", broker: 1, topic: "t", partitionEpoch: 1, want: kerr.InvalidRequest},
		{name: "fenced member", broker: 1, topic: "u", partitionEpoch: 1, isr: members(1, 4), want: kerr.IneligibleReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, epochs := alterCluster(t)
			before := c.Image()
			old, _ := before.Partition(tt.topic, 0)
			res := alter(t, c, tt.broker, epochs[tt.broker], tt.topic, tt.leaderEpoch, tt.partitionEpoch, tt.isr)
			wantKerr(t, res.Err, tt.want)
			if tt.want != nil {
				if c.Image() != before {
					t.Fatal("a rejected proposal committed metadata")
				}
				return
			}
			p := partitionOf(t, c, tt.topic, 0)
			wantEq(t, p.ISR, tt.wantISR)
			wantEq(t, p.Leader, old.Leader)
			wantEq(t, p.LeaderEpoch, old.LeaderEpoch)
			wantPE := old.PartitionEpoch + 1
			if slices.Equal(tt.wantISR, old.ISR) {
				wantPE = old.PartitionEpoch
				if c.Image() != before {
					t.Fatal("a proposal that changes nothing committed metadata")
				}
			}
			wantEq(t, p.PartitionEpoch, wantPE)
			wantEq(t, res, AlterPartitionResult{TopicID: before.Topics[tt.topic].ID, Leader: p.Leader,
				ISR: p.ISR, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch})
		})
	}
}

func TestAlterPartitionRequestLevelErrors(t *testing.T) {
	c, epochs := alterCluster(t)
	ctx := context.Background()
	_, err := c.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1] - 1})
	wantKerr(t, err, kerr.StaleBrokerEpoch)
	_, err = c.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 9, BrokerEpoch: epochs[1]})
	wantKerr(t, err, kerr.StaleBrokerEpoch)
}

func TestAlterPartitionManyInOneRequest(t *testing.T) {
	c, epochs := alterCluster(t)
	createTopic(t, c, assign("v", []int32{1, 2}, []int32{1, 3}))
	img := c.Image()
	tid, vid := img.Topics["t"].ID, img.Topics["v"].ID
	results, err := c.AlterPartition(context.Background(), AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1],
		Topics: []AlterPartitionTopic{
			{TopicID: [16]byte{0xee}, Partitions: []AlterPartitionProposal{{Partition: 0}}},
			{TopicID: vid, Partitions: []AlterPartitionProposal{
				{Partition: 0, NewISR: members(1)},
				{Partition: 1, NewISR: members(1)},
				{Partition: 0, NewISR: members(1)},
				{Partition: 2, NewISR: members(1)},
			}},
			{TopicID: tid, Partitions: []AlterPartitionProposal{{Partition: 0, PartitionEpoch: 0, NewISR: members(1)}}},
		}})
	wantKerr(t, err, nil)
	wantEq(t, len(results), 6)
	wantKerr(t, results[0].Err, kerr.UnknownTopicID)
	wantKerr(t, results[1].Err, nil)
	wantKerr(t, results[2].Err, nil)
	wantKerr(t, results[3].Err, kerr.InvalidRequest) // named twice
	wantKerr(t, results[4].Err, kerr.UnknownTopicOrPartition)
	wantKerr(t, results[5].Err, kerr.InvalidUpdateVersion)
	wantEq(t, []int32{results[1].Partition, results[2].Partition}, []int32{0, 1})
	// Both accepted changes went in one entry of two records.
	wantEq(t, c.Image().Offset, img.Offset+2)
	for p := int32(0); p < 2; p++ {
		wantEq(t, partitionOf(t, c, "v", p).ISR, []int32{1})
		wantEq(t, partitionOf(t, c, "v", p).PartitionEpoch, int32(1))
	}
}

func TestValidateAlterPartitionUnregisteredMember(t *testing.T) {
	img := lifecycleImage(t)
	p, _ := img.Partition("a", 0)
	// Broker 3 is a replica whose registration is gone.
	gone, _ := mustApply(t, img, UnregisterBrokerRecord{NodeID: 3, Epoch: 12})
	prop := AlterPartitionProposal{LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: members(1, 2, 3)}
	wantKerr(t, validateAlterPartition(gone, p, 1, prop, usableFrom(gone, nil)), kerr.IneligibleReplica)
	wantKerr(t, validateAlterPartition(img, p, 1, prop, usableFrom(img, nil)), nil)
	// In controlled shutdown: unfenced but not usable.
	wantKerr(t, validateAlterPartition(img, p, 1, prop, usable(1, 2)), kerr.IneligibleReplica)
}
