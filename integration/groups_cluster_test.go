package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinatorOf asks the cluster (any live broker) for the group's
// coordinator until one answers without error and differs from not.
func coordinatorOf(t testing.TB, seeds []string, group string, not int32, within time.Duration) int32 {
	t.Helper()
	cl := newClientSeeds(t, seeds)
	deadline := time.Now().Add(within)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && len(resp.Coordinators) == 1 {
			if c := resp.Coordinators[0]; c.ErrorCode == 0 && c.NodeID != not {
				return c.NodeID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no coordinator for %s other than %d within %v (last: %+v, %v)", group, not, within, resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGroupResumesOnNewCoordinatorAfterKill9 kills -9 the coordinator of a
// group on a 3-node cluster with offsets.topic.replication.factor=3: a
// replica of its __consumer_offsets partition takes over, loads the
// committed offsets, and a new member resumes exactly there.
func TestGroupResumesOnNewCoordinatorAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := startCluster(t, append([]string{"broker.heartbeat.interval.ms=500", "broker.session.timeout.ms=3000"}, groupArgs...)...)
	const topic, group, total = "failover", "failover-group", 300
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := c.admin().CreateTopic(ctx, 3, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	produceSync(t, newClientSeeds(t, c.seeds(), kgo.RequiredAcks(kgo.AllISRAcks())), topic, "f", total)
	opts := memberOpts(group, topic, kgo.CooperativeStickyBalancer())

	done := consumePartThenLeave(t, c.seeds(), 100, 60*time.Second, opts...)

	coord := coordinatorOf(t, c.seeds(), group, -1, 20*time.Second)
	c.nodes[coord-1].kill9()
	newCoord := coordinatorOf(t, c.seeds(), group, coord, 30*time.Second)
	t.Logf("coordinator %d killed, %d took over", coord, newCoord)

	// The new coordinator serves the offsets committed through the old
	// one (kadm retries while it loads the partition).
	adm := kadm.NewClient(newClientSeeds(t, c.seeds()))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sum int64
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil && offs.Error() == nil {
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum == int64(len(done)) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("offsets on the new coordinator sum to %d (err %v %v), want %d", sum, err, offs.Error(), len(done))
		}
		time.Sleep(100 * time.Millisecond)
	}

	resumeFromCommitted(t, c.seeds(), "f", total, done, 60*time.Second, "on the new coordinator", opts...)
}
