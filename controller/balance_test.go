package controller

import (
	"context"
	"testing"
	"time"
)

// balanceImage has brokers 1..3 and topic "a" with partitions preferring
// 1, 1, 2, 3: parts[i] gives each partition's leader and ISR.
func balanceImage(t *testing.T, leaders []int32, isrs [][]int32, extra ...Record) *Image {
	t.Helper()
	replicas := [][]int32{ids(1, 2, 3), ids(1, 3, 2), ids(2, 3, 1), ids(3, 1, 2)}
	recs := []Record{
		ClusterIDRecord{ClusterID: "cluster"},
		RegisterBrokerRecord{NodeID: 1, Epoch: 10},
		RegisterBrokerRecord{NodeID: 2, Epoch: 11},
		RegisterBrokerRecord{NodeID: 3, Epoch: 12},
		TopicRecord{Name: "a", ID: topicA},
	}
	for i := range replicas {
		recs = append(recs, PartitionRecord{TopicID: topicA, Partition: int32(i), Replicas: replicas[i], ISR: isrs[i], Leader: leaders[i]})
	}
	img, _ := mustApply(t, EmptyImage(), append(recs, extra...)...)
	return img
}

func TestImbalancedPreferredElections(t *testing.T) {
	full := [][]int32{ids(1, 2, 3), ids(1, 2, 3), ids(1, 2, 3), ids(1, 2, 3)}
	tests := []struct {
		name       string
		leaders    []int32
		isrs       [][]int32
		usable     usableBrokers
		percentage int
		limit      int
		moved      []int32 // partitions whose preferred replica is elected
		report     []brokerImbalance
	}{
		{"balanced", ids(1, 1, 2, 3), full, usable(1, 2, 3), 10, 1000, nil, nil},
		{"broker 1 leads half of its partitions: above 10%", ids(1, 2, 2, 3), full, usable(1, 2, 3), 10, 1000,
			ids(1), []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 1, Candidates: 1}}},
		{"exactly at the threshold is not above it", ids(1, 2, 2, 3), full, usable(1, 2, 3), 50, 1000, nil, nil},
		{"percentage 0 balances any imbalance (KRaft)", ids(1, 2, 2, 3), full, usable(1, 2, 3), 0, 1000,
			ids(1), []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 1, Candidates: 1}}},
		{"preferred replica not in the ISR cannot lead", ids(2, 2, 2, 3), [][]int32{ids(2, 3), ids(2, 3), ids(1, 2, 3), ids(1, 2, 3)},
			usable(1, 2, 3), 10, 1000, nil, []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 2}}},
		{"preferred replica not usable", ids(2, 2, 2, 3), full, usable(2, 3), 10, 1000,
			nil, []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 2}}},
		{"two brokers, bounded by the limit", ids(2, 2, 3, 1), full, usable(1, 2, 3), 10, 2,
			ids(0, 1), []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 2, Candidates: 2},
				{Broker: 2, Preferred: 1, NotLed: 1, Candidates: 1}, {Broker: 3, Preferred: 1, NotLed: 1, Candidates: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := balanceImage(t, tt.leaders, tt.isrs)
			recs, report := imbalancedPreferredElections(img, tt.usable, tt.percentage, tt.limit)
			wantEq(t, report, tt.report)
			var moved []int32
			for _, r := range recs {
				ch := r.(PartitionChangeRecord)
				p, _ := img.Partition("a", ch.Partition)
				wantEq(t, ch.Leader, p.Replicas[0])
				moved = append(moved, ch.Partition)
			}
			wantEq(t, moved, tt.moved)
			mustApply(t, img, recs...)
		})
	}
}

func TestImbalanceSkipsReassigningPartitions(t *testing.T) {
	full := [][]int32{ids(1, 2, 3), ids(1, 2, 3), ids(1, 2, 3), ids(1, 2, 3)}
	img := balanceImage(t, ids(2, 1, 2, 3), full, PartitionChangeRecord{TopicID: topicA, Partition: 0,
		Leader: NoLeaderChange, Replicas: ids(1, 2, 3, 4), AddingReplicas: ids(4)})
	recs, report := imbalancedPreferredElections(img, usable(1, 2, 3), 10, 1000)
	wantEq(t, len(recs), 0)
	wantEq(t, report, []brokerImbalance{{Broker: 1, Preferred: 2, NotLed: 1}})
}

func TestBalanceSettings(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		over  time.Duration
		want  balanceSettings
	}{
		{"Kafka's defaults", nil, 0, balanceSettings{enabled: true, interval: 300 * time.Second, percentage: 10}},
		{"disabled", map[string]string{"auto.leader.rebalance.enable": "false"}, 0,
			balanceSettings{enabled: false, interval: 300 * time.Second, percentage: 10}},
		{"interval in seconds", map[string]string{"leader.imbalance.check.interval.seconds": "2"}, 0,
			balanceSettings{enabled: true, interval: 2 * time.Second, percentage: 10}},
		{"test override", map[string]string{"leader.imbalance.check.interval.seconds": "2"}, 5 * time.Millisecond,
			balanceSettings{enabled: true, interval: 5 * time.Millisecond, percentage: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.props)
			cfg.LeaderImbalanceCheckInterval = tt.over
			wantEq(t, balanceSettingsFrom(cfg), tt.want)
		})
	}
}

// TestAutoLeaderRebalance runs the balancer goroutine with a short
// interval: leadership returns to the preferred replica without any
// request, and Close stops the goroutine.
func TestAutoLeaderRebalance(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg := testConfig(t, nil)
	cfg.Now = clock.Now
	cfg.LeaderImbalanceCheckInterval = 5 * time.Millisecond
	cfg.NewQuorum = func(sm StateMachine) (Quorum, error) { return &memoryQuorum{sm: sm}, nil }
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id := int32(1); id <= 3; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2, 3)))
	setLeader(t, c, "t", 2)
	before := partitionOf(t, c, "t", 0)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.waitForImage(ctx, func(img *Image) bool {
		p, _ := img.Partition("t", 0)
		return p.Leader == 1
	}, "the preferred leader")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, partitionOf(t, c, "t", 0).LeaderEpoch, before.LeaderEpoch+1)
	c.Close()
	c.balancer.task.mu.Lock()
	stopped := c.balancer.task.cancel == nil && c.balancer.task.closed
	c.balancer.task.mu.Unlock()
	wantEq(t, stopped, true)
}

// TestAutoLeaderRebalanceDisabled: with auto.leader.rebalance.enable=false
// no balancer runs, and an imbalance stays.
func TestAutoLeaderRebalanceDisabled(t *testing.T) {
	c, _ := lifecycleController(t, map[string]string{"auto.leader.rebalance.enable": "false"})
	for id := int32(1); id <= 2; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("t", ids(1, 2)))
	setLeader(t, c, "t", 2)
	wantEq(t, c.balancer.task.running(), false)
	// The same pass the balancer would run does move it.
	wantKerr(t, c.balancePartitionLeaders(context.Background(), 10), nil)
	wantEq(t, partitionOf(t, c, "t", 0).Leader, int32(1))
}

// TestBalancerFollowsLeadership: the balancer runs only while the node is
// the active controller.
func TestBalancerFollowsLeadership(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	running := c.balancer.task.running
	wantEq(t, running(), true)
	c.balancer.deactivate()
	wantEq(t, running(), false)
	c.balancer.activate()
	wantEq(t, running(), true)
	c.Close()
	wantEq(t, running(), false)
	c.balancer.activate() // after close: stays stopped
	wantEq(t, running(), false)
}
