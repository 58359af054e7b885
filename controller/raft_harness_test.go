package controller

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/config"
)

// testRouter plays the node's listener: it accepts connections, reads the
// first byte and hands raft connections to the current RaftStream. It
// outlives the quorums it serves, so a node reopens on the same address.
type testRouter struct {
	ln     net.Listener
	stream atomic.Pointer[RaftStream]
	wg     sync.WaitGroup
}

func newTestRouter(t *testing.T) *testRouter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r := &testRouter{ln: ln}
	r.wg.Add(1)
	go r.acceptLoop()
	return r
}

func (r *testRouter) addr() string { return r.ln.Addr().String() }

func (r *testRouter) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			var b [1]byte
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != RaftConnMagic {
				c.Close()
				return
			}
			c.SetReadDeadline(time.Time{})
			s := r.stream.Load()
			if s == nil {
				c.Close()
				return
			}
			s.HandOff(c)
		}()
	}
}

// close stops accepting; the streams must be closed already (a HandOff
// waits for its stream).
func (r *testRouter) close() {
	r.ln.Close()
	r.wg.Wait()
}

// Test raft timeouts: short enough that elections take a fraction of a
// second, long enough for -race on a busy machine.
const (
	testHeartbeatTimeout = 150 * time.Millisecond
	testElectionTimeout  = 150 * time.Millisecond
	testLeaseTimeout     = 75 * time.Millisecond
	testCommitTimeout    = 5 * time.Millisecond
)

// raftTestNode is one node of a raftTestCluster: a Controller on a
// RaftQuorum behind its own router.
type raftTestNode struct {
	cl     *raftTestCluster
	id     int32
	voter  bool
	dir    string
	router *testRouter
	ctrl   *Controller // nil while closed
}

type raftTestCluster struct {
	t      *testing.T
	voters []config.Voter
	nodes  map[int32]*raftTestNode
	// activated receives a node ID whenever a node's activation hooks run.
	activated chan int32
	// fast uses the test timeouts; otherwise the quorum's defaults.
	fast bool
}

// newRaftTestCluster prepares voters 1..nVoters and observers after them,
// none of them open yet.
func newRaftTestCluster(t *testing.T, nVoters, nObservers int) *raftTestCluster {
	t.Helper()
	cl := &raftTestCluster{t: t, nodes: map[int32]*raftTestNode{}, activated: make(chan int32, 64), fast: true}
	for i := range nVoters + nObservers {
		id := int32(i + 1)
		n := &raftTestNode{cl: cl, id: id, voter: i < nVoters, dir: t.TempDir(), router: newTestRouter(t)}
		cl.nodes[id] = n
		if n.voter {
			host, port, _ := net.SplitHostPort(n.router.addr())
			p, _ := strconv.Atoi(port)
			cl.voters = append(cl.voters, config.Voter{ID: id, Host: host, Port: p})
		}
	}
	t.Cleanup(func() {
		for _, n := range cl.nodes {
			n.close()
		}
		for _, n := range cl.nodes {
			n.router.close()
		}
	})
	return cl
}

func (cl *raftTestCluster) node(id int32) *raftTestNode { return cl.nodes[id] }

// openAll opens every node.
func (cl *raftTestCluster) openAll() {
	for id := range int32(len(cl.nodes)) {
		cl.nodes[id+1].open()
	}
}

func (n *raftTestNode) quorumConfig() RaftQuorumConfig {
	stream := NewRaftStream(n.router.ln.Addr())
	n.router.stream.Store(stream)
	cfg := RaftQuorumConfig{
		NodeID: n.id, Dir: n.dir, Voters: n.cl.voters, Voter: n.voter,
		Stream: stream, Logger: discardLogger(),
	}
	if n.cl.fast {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = testHeartbeatTimeout, testElectionTimeout
		cfg.LeaderLeaseTimeout, cfg.CommitTimeout = testLeaseTimeout, testCommitTimeout
	}
	return cfg
}

func (n *raftTestNode) openErr() error {
	cfg := testConfig(n.cl.t, nil)
	cfg.NodeID = n.id
	cfg.Rand = rand.NewChaCha8([32]byte{byte(n.id)})
	qcfg := n.quorumConfig()
	cfg.NewQuorum = func(sm StateMachine) (Quorum, error) { return OpenRaftQuorum(qcfg, sm) }
	c, err := Open(cfg)
	if err != nil {
		return err
	}
	c.OnActivate(func() {
		select {
		case n.cl.activated <- n.id:
		default:
		}
	})
	n.ctrl = c
	return nil
}

func (n *raftTestNode) open() {
	n.cl.t.Helper()
	if err := n.openErr(); err != nil {
		n.cl.t.Fatalf("open node %d: %v", n.id, err)
	}
}

func (n *raftTestNode) close() {
	if n.ctrl == nil {
		return
	}
	if err := n.ctrl.Close(); err != nil {
		n.cl.t.Errorf("close node %d: %v", n.id, err)
	}
	n.ctrl = nil
}

func (n *raftTestNode) quorum() *RaftQuorum { return n.ctrl.quorum.(*RaftQuorum) }

// waitActive returns the node that became the active controller within
// timeout. Activation hooks signal it; IsActive follows right after them.
func (cl *raftTestCluster) waitActive(timeout time.Duration) *raftTestNode {
	cl.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range cl.nodes {
			if n.ctrl != nil && n.ctrl.IsActive() {
				return n
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			cl.t.Fatalf("no active controller within %v", timeout)
		}
		select {
		case <-cl.activated:
			// The hooks ran; active is set as they return.
			waitUntil(cl.t, time.Second, func() bool { return anyActive(cl) })
		case <-time.After(left):
		}
	}
}

func anyActive(cl *raftTestCluster) bool {
	for _, n := range cl.nodes {
		if n.ctrl != nil && n.ctrl.IsActive() {
			return true
		}
	}
	return false
}

// waitUntil polls cond for state that no event announces (raft's internal
// view of a leader) until timeout.
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// setRetention commits a change through the controller's AlterConfigs: a
// cluster-wide broker config that needs no registered broker.
func setRetention(ctx context.Context, c *Controller, value string) error {
	res := c.AlterConfigs(ctx, []ConfigChange{{
		Resource: ConfigResource{Type: ConfigResourceBroker},
		Ops:      []ConfigOp{set("log.retention.ms", value)},
	}}, true, false)
	return res[0].Err
}

func mustSetRetention(t *testing.T, c *Controller, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := setRetention(ctx, c, value); err != nil {
		t.Fatalf("AlterConfigs on node %d: %v", c.cfg.NodeID, err)
	}
}

// wantSameImage waits until n's image reaches want's offset and checks it
// holds the same metadata.
func wantSameImage(t *testing.T, n *raftTestNode, want *Image) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ctrl.WaitForOffset(ctx, want.Offset); err != nil {
		t.Fatalf("node %d: %v", n.id, err)
	}
	got := n.ctrl.Image()
	if got.Offset != want.Offset {
		t.Fatalf("node %d at offset %d, want %d", n.id, got.Offset, want.Offset)
	}
	wantEq(t, got.Records(), want.Records())
}

// isKerr reports whether err carries one of the Kafka errors want.
func isKerr(err error, want ...*kerr.Error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && slices.Contains(want, ke)
}
