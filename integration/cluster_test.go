package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// procCluster is three samsa processes, each broker and controller, on
// 127.0.0.1 (the layout of `make cluster`).
type procCluster struct {
	t     testing.TB
	nodes []*procNode
}

func startCluster(t testing.TB, extra ...string) *procCluster {
	t.Helper()
	const n = 3
	ports, cports := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], cports[i] = freePort(t), freePort(t)
	}
	voters := ""
	for i := range n {
		if i > 0 {
			voters += ","
		}
		voters += fmt.Sprintf("%d@127.0.0.1:%d", i+1, cports[i])
	}
	c := &procCluster{t: t}
	for i := range n {
		args := append([]string{
			fmt.Sprintf("node.id=%d", i+1),
			"controller.quorum.voters=" + voters,
			"default.replication.factor=3",
			"offsets.topic.replication.factor=3",
		}, extra...)
		c.nodes = append(c.nodes, startProcAsync(t, t.TempDir(), ports[i], cports[i], args...))
	}
	for _, p := range c.nodes {
		p.waitListening()
	}
	c.waitBrokers(n, 30*time.Second)
	return c
}

func (c *procCluster) seeds() []string {
	var s []string
	for _, p := range c.nodes {
		if p.cmd != nil {
			s = append(s, p.addr())
		}
	}
	return s
}

func (c *procCluster) admin() *kadm.Client {
	return kadm.NewClient(newClientSeeds(c.t, c.seeds()))
}

// waitBrokers waits until every live node's metadata lists want brokers.
func (c *procCluster) waitBrokers(want int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, p := range c.nodes {
		if p.cmd == nil {
			continue
		}
		for {
			// A fresh client each time: kgo serves repeated metadata
			// requests from its cache for a while.
			cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr()))
			if err != nil {
				c.t.Fatalf("kgo client: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			cancel()
			cl.Close()
			if err == nil && len(md.Brokers) == want {
				break
			}
			if time.Now().After(deadline) {
				var logs string
				for _, q := range c.nodes {
					logs += fmt.Sprintf("--- node at %s:\n%s\n", q.addr(), q.logs())
				}
				c.t.Fatalf("node at %s sees %d brokers (err %v), want %d\n%s", p.addr(), len(md.Brokers), err, want, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// activeController asks the quorum (DescribeQuorum, forwarded by any
// broker) who leads it.
func (c *procCluster) activeController() int32 {
	c.t.Helper()
	cl := newClientSeeds(c.t, c.seeds())
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && resp.ErrorCode == 0 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			if p := resp.Topics[0].Partitions[0]; p.ErrorCode == 0 && p.LeaderID > 0 {
				return p.LeaderID
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no quorum leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterBrokersVisibleAndLeadersSpread(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := startCluster(t)
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 6, 3, nil, "spread"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Every broker reports the same partitions, each with 3 replicas, and
	// the leaders are spread evenly.
	for _, p := range c.nodes {
		// Metadata reaches each broker through its own replica of the
		// metadata log: allow it a moment.
		var td kadm.TopicDetails
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; {
			td, err = kadm.NewClient(newClient(t, p.addr())).ListTopics(ctx, "spread")
			if err == nil && td["spread"].Err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || td["spread"].Err != nil {
			t.Fatalf("describe from %s: %v %v", p.addr(), err, td["spread"].Err)
		}
		leaders := map[int32]int{}
		for _, pd := range td["spread"].Partitions {
			if len(pd.Replicas) != 3 || len(pd.ISR) != 3 {
				t.Fatalf("partition %d: replicas %v ISR %v", pd.Partition, pd.Replicas, pd.ISR)
			}
			leaders[pd.Leader]++
		}
		for id := int32(1); id <= 3; id++ {
			if leaders[id] != 2 {
				t.Fatalf("leaders per broker %v, want 2 each", leaders)
			}
		}
	}
	_ = c.activeController()
}

func TestClusterSurvivesControllerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := startCluster(t)
	old := c.activeController()
	victim := c.nodes[old-1]
	victim.kill9()
	// A new leader within a few seconds, and topic creation through the
	// survivors works.
	deadline := time.Now().Add(15 * time.Second)
	var leader int32
	for {
		leader = c.activeController()
		if leader != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quorum still reports killed node %d as leader", old)
		}
		time.Sleep(200 * time.Millisecond)
	}
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, 3, 2, nil, "after-failover")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic after the controller died: %v %v", err, resp.Err)
	}
	// The killed node restarts with its data and rejoins.
	victim.start()
	c.waitBrokers(3, 30*time.Second)
	td, err := kadm.NewClient(newClient(t, victim.addr())).ListTopics(ctx, "after-failover")
	if err != nil || td["after-failover"].Err != nil {
		t.Fatalf("restarted node does not see the topic created while it was down: %v %v", err, td["after-failover"].Err)
	}
	t.Logf("controller %d killed, %d took over", old, leader)
}

// TestBrokerOnlyNodeFollowsMetadata runs a controller+broker node and a
// broker-only node (a raft observer of the metadata log): the broker-only
// node registers, sees every change, hosts replicas and serves clients.
func TestBrokerOnlyNodeFollowsMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	p1, c1 := freePort(t), freePort(t)
	p2 := freePort(t)
	voters := fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", c1)
	n1 := startProc(t, t.TempDir(), p1, c1, voters)
	n2 := startProcAsync(t, t.TempDir(), p2, freePort(t),
		"node.id=2", "process.roles=broker", voters,
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", p2))
	n2.waitListening()
	c := &procCluster{t: t, nodes: []*procNode{n1, n2}}
	c.waitBrokers(2, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Created through the broker-only node, which forwards to the
	// controller, with a replica on each node.
	adm := kadm.NewClient(newClient(t, n2.addr()))
	if resp, err := adm.CreateTopic(ctx, 2, 2, nil, "observer"); err != nil || resp.Err != nil {
		t.Fatalf("create topic through the broker-only node: %v %v", err, resp.Err)
	}
	produceSync(t, newClientSeeds(t, c.seeds()), "observer", "o", 100)
	if got := consumeN(t, n2.addr(), "observer", 100); len(got) != 100 {
		t.Fatalf("read %d records, want 100", len(got))
	}
}
