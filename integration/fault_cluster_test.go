package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Timeouts of the fault suite's clusters: short, so a case takes seconds,
// but with room for a loaded machine (a missed heartbeat or two must not
// fence anyone). A fault held for faultHold outlasts both the broker
// session and replica.lag.time.max.ms.
const (
	faultSessionTimeout = 2500 * time.Millisecond
	faultHeartbeat      = 250 * time.Millisecond
	faultLagMax         = 1500 * time.Millisecond
	faultHold           = faultSessionTimeout + time.Second
)

// faultClusterSize is the number of nodes: broker+controller each, voters
// 1..3.
const faultClusterSize = 3

// faultCluster is three samsa processes, broker and controller each, wired
// so that any one node can be cut off from the other two without touching
// its clients:
//
//   - PLAINTEXT is the client listener, reached directly;
//   - INTERNAL is inter.broker.listener.name; each node advertises it
//     through a proxy (internal[id-1]), so the other nodes' follower
//     fetches from it cross that proxy;
//   - CONTROLLER carries raft and the broker-to-controller requests; each
//     node's controller.quorum.voters names the other voters through
//     proxies of its own (ctrl[{from, to}]), so every controller link in
//     either direction crosses a proxy.
//
// isolate(id) cuts node id's INTERNAL proxy and every controller proxy to
// and from it: the node still serves clients, but can neither replicate,
// be replicated from, heartbeat, nor take part in the quorum. (Its own
// follower fetches to others stay possible, but it learns of no other
// leader while cut off.)
type faultCluster struct {
	t     testing.TB
	nodes []*procNode // nodes[id-1]
	dirs  []string
	cport []int // real CONTROLLER ports

	internal []*faultProxy
	ctrl     map[[2]int32]*faultProxy

	// clients[id-1] is seeded with node id only; control requests go to
	// that seed so they reach exactly that node.
	clients []*kgo.Client

	mu     sync.Mutex
	paused map[int32]bool
	cutOff map[int32]bool
}

func startFaultCluster(t testing.TB, extra ...string) *faultCluster {
	t.Helper()
	// SAMSA_FAULT_CONFIG adds broker settings to every node, e.g.
	// log.segment.bytes=65536 so that faults meet segment rolls.
	if s := os.Getenv("SAMSA_FAULT_CONFIG"); s != "" {
		extra = append(extra, strings.Split(s, ",")...)
		t.Logf("SAMSA_FAULT_CONFIG=%s", s)
	}
	n := faultClusterSize
	c := &faultCluster{t: t, ctrl: map[[2]int32]*faultProxy{}, paused: map[int32]bool{}, cutOff: map[int32]bool{}}
	ports, iports := make([]int, n), make([]int, n)
	c.cport = make([]int, n)
	for i := range n {
		ports[i], iports[i], c.cport[i] = freePort(t), freePort(t), freePort(t)
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := range n {
		c.internal = append(c.internal, startFaultProxy(t, fmt.Sprintf("internal-%d", i+1), fmt.Sprintf("127.0.0.1:%d", iports[i])))
		for j := range n {
			if i != j {
				c.ctrl[[2]int32{int32(i + 1), int32(j + 1)}] = startFaultProxy(t, fmt.Sprintf("controller-%d-to-%d", i+1, j+1), fmt.Sprintf("127.0.0.1:%d", c.cport[j]))
			}
		}
	}
	for i := range n {
		id := int32(i + 1)
		var voters []string
		for j := range n {
			port := c.cport[j]
			if j != i {
				port = c.ctrl[[2]int32{id, int32(j + 1)}].port()
			}
			voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", j+1, port))
		}
		args := append([]string{
			fmt.Sprintf("node.id=%d", id),
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], iports[i], c.cport[i]),
			fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d", ports[i], c.internal[i].port()),
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"inter.broker.listener.name=INTERNAL",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"default.replication.factor=3",
			"offsets.topic.replication.factor=3",
			"min.insync.replicas=2",
			fmt.Sprintf("broker.session.timeout.ms=%d", faultSessionTimeout.Milliseconds()),
			fmt.Sprintf("broker.heartbeat.interval.ms=%d", faultHeartbeat.Milliseconds()),
			fmt.Sprintf("replica.lag.time.max.ms=%d", faultLagMax.Milliseconds()),
		}, extra...)
		c.nodes = append(c.nodes, startProcAsync(t, c.dirs[i], ports[i], c.cport[i], args...))
	}
	for _, p := range c.nodes {
		p.waitListening()
		c.clients = append(c.clients, newClient(t, p.addr(), kgo.RetryTimeout(2*time.Second)))
	}
	// A node that was paused or cut off when the test failed must not make
	// the processes' cleanup wait: resume and reconnect everything first
	// (cleanups run last-registered first, so this runs before they stop).
	t.Cleanup(c.healAll)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("SAMSA_FAULT_KEEPLOGS") != "" {
			c.dumpLogs()
		}
	})
	c.waitAllBrokers(30 * time.Second)
	return c
}

func (c *faultCluster) node(id int32) *procNode { return c.nodes[id-1] }

// use makes t, a subtest, the one the cluster's helpers report to, until
// the returned function restores the previous one.
func (c *faultCluster) use(t testing.TB) (restore func()) {
	prev := c.t
	c.t = t
	for _, p := range c.nodes {
		p.t = t
	}
	return func() {
		c.t = prev
		for _, p := range c.nodes {
			p.t = prev
		}
	}
}

// seeds are the client addresses of the nodes that are running and not
// paused (a paused node accepts connections and never answers, which
// stalls a client's first metadata request).
func (c *faultCluster) seeds() []string {
	var s []string
	for _, id := range c.reachable() {
		s = append(s, c.node(id).addr())
	}
	return s
}

// reachable lists the nodes that run and are not paused.
func (c *faultCluster) reachable() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int32
	for i, p := range c.nodes {
		id := int32(i + 1)
		if p.cmd != nil && !c.paused[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// healthy lists the nodes that run, are not paused and are not cut off.
func (c *faultCluster) healthy() []int32 {
	ids := c.reachable()
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(ids, func(id int32) bool { return c.cutOff[id] })
}

// waitAllBrokers waits until every node's metadata lists all brokers.
func (c *faultCluster) waitAllBrokers(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, id := range c.reachable() {
		for {
			md, err := c.metadata(id)
			if err == nil && len(md.Brokers) == faultClusterSize {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d sees brokers %v (err %v), want %d", id, brokerIDs(md), err, faultClusterSize)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func brokerIDs(md *kmsg.MetadataResponse) []int32 {
	if md == nil {
		return nil
	}
	var ids []int32
	for _, b := range md.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// metadata asks node id itself (not whichever broker a client prefers)
// for its metadata of topics (all topics when none is named).
func (c *faultCluster) metadata(id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	if len(topics) == 0 {
		req.Topics = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	seeds := c.clients[id-1].SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no seed broker")
	}
	return req.RequestWith(ctx, seeds[0])
}

// partitionView is one partition as one node's metadata has it.
type partitionView struct {
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Err         error
}

// partitions returns topic's partitions as node id sees them.
func (c *faultCluster) partitions(id int32, topic string) ([]partitionView, error) {
	md, err := c.metadata(id, topic)
	if err != nil {
		return nil, fmt.Errorf("metadata from node %d: %w", id, err)
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("metadata from node %d: %d topics", id, len(md.Topics))
	}
	mt := md.Topics[0]
	if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
		return nil, fmt.Errorf("metadata of %s from node %d: %w", topic, id, err)
	}
	out := make([]partitionView, len(mt.Partitions))
	for _, mp := range mt.Partitions {
		if int(mp.Partition) >= len(out) {
			return nil, fmt.Errorf("metadata of %s from node %d: partition %d of %d", topic, id, mp.Partition, len(out))
		}
		isr := slices.Clone(mp.ISR)
		slices.Sort(isr)
		out[mp.Partition] = partitionView{Leader: mp.Leader, LeaderEpoch: mp.LeaderEpoch, Replicas: mp.Replicas, ISR: isr, Err: kerr.ErrorForCode(mp.ErrorCode)}
	}
	return out, nil
}

// waitFullISR waits until every running node reports, for every partition
// of topic, a leader and all replicas in the ISR (the cluster healed), and
// the nodes agree on leader and epoch.
func (c *faultCluster) waitFullISR(topic string, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		problem := c.fullISRProblem(topic)
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no full ISR within %v after the fault healed: %s", topic, within, problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fullISRProblem describes why topic is not fully in sync, "" if it is.
func (c *faultCluster) fullISRProblem(topic string) string {
	var first []partitionView
	for _, id := range c.reachable() {
		parts, err := c.partitions(id, topic)
		if err != nil {
			return err.Error()
		}
		for i, p := range parts {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) != len(p.Replicas) || len(p.Replicas) != faultClusterSize {
				return fmt.Sprintf("node %d: partition %d: leader %d epoch %d replicas %v ISR %v err %v", id, i, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.Err)
			}
			if first != nil && (first[i].Leader != p.Leader || first[i].LeaderEpoch != p.LeaderEpoch) {
				return fmt.Sprintf("partition %d: nodes disagree: leader %d epoch %d vs leader %d epoch %d", i, first[i].Leader, first[i].LeaderEpoch, p.Leader, p.LeaderEpoch)
			}
		}
		if first == nil {
			first = parts
		}
	}
	return ""
}

// activeController finds the active controller: the one node whose own
// CONTROLLER listener answers DescribeQuorum (only the active one does)
// naming itself. Asked directly, not through a broker's forwarding.
func (c *faultCluster) activeController(within time.Duration) int32 {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, id := range c.reachable() {
			if c.claimsActive(id) {
				return id
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no active controller within %v", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *faultCluster) claimsActive(id int32) bool {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	kr, err := rawRequest(fmt.Sprintf("127.0.0.1:%d", c.cport[id-1]), req, time.Second)
	if err != nil {
		return false
	}
	resp := kr.(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return false
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode == 0 && p.LeaderID == id
}

// rawRequest sends one request on a fresh connection (version as set, the
// maximum by default) and decodes the answer; errors are returned, so it
// may be used against nodes that are down.
func rawRequest(addr string, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	if len(body) < 4 {
		return nil, errors.New("short response")
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		if len(body) < 1 {
			return nil, errors.New("short response header")
		}
		body = body[1:] // no tagged fields in the header
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// createTopic creates topic with RF 3 and min.insync.replicas=2, placed by
// the controller, and waits until every node sees it fully in sync.
func (c *faultCluster) createTopic(topic string, partitions int32) {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 20000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 3
	rc := kmsg.NewCreateTopicsRequestTopicConfig()
	rc.Name, rc.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, rc)
	req.Topics = append(req.Topics, rt)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		id := c.healthy()[0]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, rerr := req.RequestWith(ctx, c.clients[id-1].SeedBrokers()[0])
		cancel()
		switch {
		case rerr != nil:
			err = rerr
		default:
			err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("create topic %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.waitFullISR(topic, 30*time.Second)
}

// leaders returns, by partition, the leader of topic as the healthy nodes
// agree on it.
func (c *faultCluster) leaders(topic string) []int32 {
	c.t.Helper()
	// A node that just restarted may answer on a connection of its
	// previous incarnation with EOF: ask again, or ask another node.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		healthy := c.healthy()
		parts, err := c.partitions(healthy[i%len(healthy)], topic)
		if err == nil {
			out := make([]int32, len(parts))
			for i, p := range parts {
				out[i] = p.Leader
			}
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("leaders of %s: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pause stops node id with SIGSTOP; resume continues it.
func (c *faultCluster) pause(id int32) {
	c.t.Helper()
	if err := c.node(id).cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP node %d: %v", id, err)
	}
	c.mu.Lock()
	c.paused[id] = true
	c.mu.Unlock()
}

func (c *faultCluster) resume(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused[id] {
		return
	}
	if p := c.node(id); p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGCONT)
	}
	delete(c.paused, id)
}

// isolate cuts node id off from the other nodes (see faultCluster).
func (c *faultCluster) isolate(id int32, mode proxyMode) {
	c.mu.Lock()
	c.cutOff[id] = true
	c.mu.Unlock()
	c.internal[id-1].cut(mode)
	for k, p := range c.ctrl {
		if k[0] == id || k[1] == id {
			p.cut(mode)
		}
	}
}

// reconnect heals every proxy of node id.
func (c *faultCluster) reconnect(id int32) {
	c.internal[id-1].heal()
	for k, p := range c.ctrl {
		if k[0] == id || k[1] == id {
			p.heal()
		}
	}
	c.mu.Lock()
	delete(c.cutOff, id)
	c.mu.Unlock()
}

// healAll resumes paused nodes and heals every proxy.
func (c *faultCluster) healAll() {
	for i := range c.nodes {
		c.resume(int32(i + 1))
		c.reconnect(int32(i + 1))
	}
}

// dumpLogs writes every node's log to a directory that outlives the test
// (SAMSA_FAULT_LOGDIR, else the system temp dir) and says where.
func (c *faultCluster) dumpLogs() {
	base := os.Getenv("SAMSA_FAULT_LOGDIR")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "samsa-faults-")
	if err != nil {
		c.t.Logf("keep node logs: %v", err)
		return
	}
	for i, p := range c.nodes {
		path := filepath.Join(dir, fmt.Sprintf("node-%d.log", i+1))
		if err := os.WriteFile(path, []byte(p.logs()), 0o644); err != nil {
			c.t.Logf("keep node logs: %v", err)
		}
	}
	c.t.Logf("node logs kept in %s", dir)
}
