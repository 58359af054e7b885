package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/config"
	"github.com/samsa-broker/samsa/node"
)

// adminCluster is three in-process nodes, broker and controller each,
// voters 1..3, with short heartbeats so stops and restarts settle fast.
// nodes[id-1] is node id; a stopped node has a nil testNode.n.
type adminCluster struct {
	t     *testing.T
	nodes []*testNode
}

func startAdminCluster(t *testing.T, extra ...string) *adminCluster {
	t.Helper()
	const n = 3
	c := &adminCluster{t: t}
	var voters []string
	for i := range n {
		tn := &testNode{t: t, dir: t.TempDir(), port: freePort(t), cport: freePort(t)}
		c.nodes = append(c.nodes, tn)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, tn.cport))
	}
	for i, tn := range c.nodes {
		tn.args = nodeArgs(tn.port, tn.cport, tn.dir, append([]string{
			fmt.Sprintf("node.id=%d", i+1),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"broker.heartbeat.interval.ms=250",
			"broker.session.timeout.ms=2500",
			"replica.lag.time.max.ms=2000",
		}, extra...)...)
	}
	// Together: a voter cannot become ready before a quorum of them runs.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, tn := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tn.n, errs[i] = startInProcess(tn.args)
		}()
	}
	wg.Wait()
	for _, tn := range c.nodes {
		t.Cleanup(tn.stop)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	return c
}

// startInProcess is testNode.start without the test's Fatalf, so nodes can
// start on goroutines.
func startInProcess(args []string) (*node.Node, error) {
	cfg, _, err := config.Load("", args)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := node.New(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, fmt.Errorf("start node: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("node not ready: %w", err)
	}
	return n, nil
}

func (c *adminCluster) node(id int32) *testNode { return c.nodes[id-1] }

// seeds are the client addresses of the running nodes.
func (c *adminCluster) seeds() []string {
	var s []string
	for _, tn := range c.nodes {
		if tn.n != nil {
			s = append(s, tn.addr())
		}
	}
	return s
}

func (c *adminCluster) admin() *kadm.Client {
	return kadm.NewClient(newClientSeeds(c.t, c.seeds(), kgo.RetryTimeout(10*time.Second)))
}

// roles returns the active controller and the other two nodes.
func (c *adminCluster) roles() (active, x, y int32) {
	c.t.Helper()
	cl := newClientSeeds(c.t, c.seeds())
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	eventually(c.t, 20*time.Second, "a quorum leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return false
		}
		active = resp.Topics[0].Partitions[0].LeaderID
		return active > 0
	})
	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != active {
			others = append(others, id)
		}
	}
	return active, others[0], others[1]
}

// createAssigned creates a topic whose partition 0 is on replicas, in
// order.
func (c *adminCluster) createAssigned(topic string, replicas ...int32) {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, newClientSeeds(c.t, c.seeds()))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		c.t.Fatalf("create %s: %v %v", topic, err, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
}

// partition describes partition 0 of topic as the running nodes see it,
// once they all agree.
func (c *adminCluster) partition(topic string) kadm.PartitionDetail {
	c.t.Helper()
	var got kadm.PartitionDetail
	eventually(c.t, 10*time.Second, "the nodes to agree on "+topic, func() bool {
		var first *kadm.PartitionDetail
		for _, addr := range c.seeds() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			td, err := kadm.NewClient(newClient(c.t, addr)).ListTopics(ctx, topic)
			cancel()
			if err != nil || td[topic].Err != nil || len(td[topic].Partitions) == 0 {
				return false
			}
			p := td[topic].Partitions[0]
			if first == nil {
				first = &p
			} else if p.Leader != first.Leader || p.LeaderEpoch != first.LeaderEpoch || !slices.Equal(p.Replicas, first.Replicas) {
				return false
			}
		}
		got = *first
		return true
	})
	return got
}

// waitPartition waits until partition 0 of topic satisfies ok everywhere.
func (c *adminCluster) waitPartition(topic, what string, within time.Duration, ok func(kadm.PartitionDetail) bool) kadm.PartitionDetail {
	c.t.Helper()
	var p kadm.PartitionDetail
	eventually(c.t, within, what, func() bool {
		p = c.partition(topic)
		return ok(p)
	})
	return p
}

// eventually polls cond until it holds or within passes; what names the
// condition in the failure.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *adminCluster) stop(id int32) { c.node(id).stop() }

func (c *adminCluster) start(id int32) {
	c.t.Helper()
	n, err := startInProcess(c.node(id).args)
	if err != nil {
		c.t.Fatalf("restart node %d: %v", id, err)
	}
	c.node(id).n = n
}

// bounce stops preferred and starts it again once leadership left it, as a
// rolling restart does; it returns when preferred is back in the ISR.
func (c *adminCluster) bounce(topic string, preferred int32) {
	c.t.Helper()
	c.stop(preferred)
	c.waitPartition(topic, "a new leader", 10*time.Second, func(p kadm.PartitionDetail) bool {
		return p.Leader >= 0 && p.Leader != preferred
	})
	c.start(preferred)
	c.waitPartition(topic, fmt.Sprintf("broker %d back in the ISR", preferred), 15*time.Second, func(p kadm.PartitionDetail) bool {
		return slices.Contains(p.ISR, preferred)
	})
}

func produceValues(t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := produceOne(cl, topic, v); err != nil {
			t.Fatalf("produce %q to %s: %v", v, topic, err)
		}
	}
}

// TestAdminLeadershipAndReassignment runs, on one cluster with automatic
// balancing off: a preferred election after the preferred leader
// restarted, and reassignments (one completing under acks=all load, one
// cancelled) with ListPartitionReassignments following them.
func TestAdminLeadershipAndReassignment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := startAdminCluster(t, "auto.leader.rebalance.enable=false")
	active, x, y := c.roles()
	adm := c.admin()
	acks := newClientSeeds(t, c.seeds(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(20*time.Second))

	t.Run("preferred election after restart", func(t *testing.T) {
		c.createAssigned("elect", x, y, active)
		produceValues(t, acks, "elect", "e0", "e1")
		before := c.partition("elect")
		c.bounce("elect", x)
		moved := c.partition("elect")
		if moved.Leader == x {
			t.Fatalf("broker %d leads again without an election", x)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"elect": {0: {}}})
		if err != nil || res["elect"][0].Err != nil {
			t.Fatalf("ElectLeaders: %v %+v", err, res)
		}
		after := c.waitPartition("elect", "the preferred leader", 5*time.Second, func(p kadm.PartitionDetail) bool { return p.Leader == x })
		if after.LeaderEpoch <= moved.LeaderEpoch || moved.LeaderEpoch <= before.LeaderEpoch {
			t.Fatalf("leader epochs %d -> %d -> %d, want each larger", before.LeaderEpoch, moved.LeaderEpoch, after.LeaderEpoch)
		}
		res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"elect": {0: {}}})
		if err != nil || !errors.Is(res["elect"][0].Err, kerr.ElectionNotNeeded) {
			t.Fatalf("second ElectLeaders: %v %+v, want ELECTION_NOT_NEEDED", err, res)
		}
		produceValues(t, acks, "elect", "e2")
		if got := consumeN(t, c.node(x).addr(), "elect", 3); !slices.Equal(got, []string{"e0", "e1", "e2"}) {
			t.Fatalf("elect holds %q", got)
		}
	})

	t.Run("reassign under load and cancel", func(t *testing.T) {
		// move: [active, x] -> [y, x]: the leader (active) is removed. y is
		// stopped first, so the reassignment stays in progress until it
		// comes back. keep: [x] -> [y], cancelled.
		c.createAssigned("move", active, x)
		c.createAssigned("keep", x)
		produceValues(t, acks, "keep", "k0")
		c.stop(y)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("move", 0, []int32{y, x})
		req.Assign("keep", 0, []int32{y})
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatalf("AlterPartitionAssignments: %v", err)
		}
		res.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
			if r.Err != nil {
				t.Fatalf("reassign %s-%d: %v %s", r.Topic, r.Partition, r.Err, r.ErrMessage)
			}
		})

		// A producer writes acks=all through the whole reassignment.
		prod := newClientSeeds(t, c.seeds(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(20*time.Second))
		var mu sync.Mutex
		var acked []string
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("m%d", i)
				if produceOne(prod, "move", v) == nil {
					mu.Lock()
					acked = append(acked, v)
					mu.Unlock()
				}
			}
		}()
		stopProducer := func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
			<-done
		}
		defer stopProducer()

		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}}, "keep": {0: {}}})
		if err != nil {
			t.Fatalf("ListPartitionReassignments: %v", err)
		}
		wantListed := []kadm.ListPartitionReassignmentsResponse{
			{Topic: "keep", Partition: 0, Replicas: []int32{y, x}, AddingReplicas: []int32{y}, RemovingReplicas: []int32{x}},
			{Topic: "move", Partition: 0, Replicas: []int32{y, x, active}, AddingReplicas: []int32{y}, RemovingReplicas: []int32{active}},
		}
		if got := listed.Sorted(); fmt.Sprint(got) != fmt.Sprint(wantListed) {
			t.Fatalf("in progress: %+v, want %+v", got, wantListed)
		}

		var cancelReq kadm.AlterPartitionAssignmentsReq
		cancelReq.CancelAssign("keep", 0)
		if res, err := adm.AlterPartitionAssignments(ctx, cancelReq); err != nil || res["keep"][0].Err != nil {
			t.Fatalf("cancel: %v %+v", err, res)
		}
		if p := c.partition("keep"); !slices.Equal(p.Replicas, []int32{x}) || p.Leader != x {
			t.Fatalf("keep after cancel: %+v", p)
		}
		if res, err := adm.AlterPartitionAssignments(ctx, cancelReq); err != nil || !errors.Is(res["keep"][0].Err, kerr.NoReassignmentInProgress) {
			t.Fatalf("second cancel: %v %+v, want NO_REASSIGNMENT_IN_PROGRESS", err, res)
		}

		eventually(t, 10*time.Second, "acks=all writes while the reassignment waits", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 20
		})
		c.start(y)
		eventually(t, 20*time.Second, "the reassignment to complete", func() bool {
			l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}}})
			return err == nil && len(l.Sorted()) == 0
		})
		final := c.waitPartition("move", "the target replicas", 10*time.Second, func(p kadm.PartitionDetail) bool {
			return slices.Equal(p.Replicas, []int32{y, x}) && p.Leader == y
		})
		eventually(t, 10*time.Second, "more acks=all writes after the reassignment", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 40
		})
		stopProducer()

		// Every acknowledged record is there, in order (a write that failed
		// on the client's side may still be in the log too).
		got := consumeN(t, c.node(y).addr(), "move", int(endOffsets(t, c.node(y).addr(), "move")))
		next := 0
		for _, v := range got {
			if next < len(acked) && v == acked[next] {
				next++
			}
		}
		if next != len(acked) {
			t.Fatalf("acknowledged record %q (%d of %d) is missing from move-0's %d records", acked[next], next, len(acked), len(got))
		}
		eventually(t, 10*time.Second, fmt.Sprintf("broker %d to delete move-0", active), func() bool {
			_, err := os.Stat(filepath.Join(c.node(active).dir, "move-0"))
			return errors.Is(err, os.ErrNotExist)
		})
		if got := consumeN(t, c.node(x).addr(), "keep", 1); got[0] != "k0" {
			t.Fatalf("keep holds %q", got)
		}
		t.Logf("move-0: replicas %v ISR %v leader %d epoch %d; %d acks=all writes", final.Replicas, final.ISR, final.Leader, final.LeaderEpoch, len(acked))
	})
}

// TestAutoLeaderRebalanceReturnsLeadership: with a one-second check
// interval the active controller gives leadership back to a restarted
// preferred leader without any request.
func TestAutoLeaderRebalanceReturnsLeadership(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := startAdminCluster(t, "leader.imbalance.check.interval.seconds=1")
	active, x, y := c.roles()
	c.createAssigned("auto", x, y, active)
	before := c.partition("auto")
	c.bounce("auto", x)
	after := c.waitPartition("auto", "leadership back on the preferred replica", 15*time.Second, func(p kadm.PartitionDetail) bool {
		return p.Leader == x
	})
	if after.LeaderEpoch < before.LeaderEpoch+2 {
		t.Fatalf("leader epoch %d -> %d: want a move away and one back", before.LeaderEpoch, after.LeaderEpoch)
	}
}
