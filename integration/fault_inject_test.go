package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// faultKind is one way a node fails.
type faultKind string

const (
	// faultKill9: SIGKILL, down for the hold, restarted on its data.
	faultKill9 faultKind = "kill9"
	// faultShutdown: SIGTERM (controlled shutdown moves its leaderships
	// first), down for the hold, restarted on its data.
	faultShutdown faultKind = "shutdown"
	// faultPause: SIGSTOP for the hold (past the broker session and
	// replica.lag.time.max.ms), then SIGCONT: the old leader wakes up
	// believing it still leads.
	faultPause faultKind = "pause"
	// faultRestart: SIGTERM and an immediate restart (a rolling restart).
	faultRestart faultKind = "restart"
	// faultPartition: cut off from the other nodes (not from clients) for
	// the hold, then reconnected.
	faultPartition faultKind = "partition"
	// faultPauseKill: SIGSTOP for the hold, SIGKILL while stopped, and a
	// restart on its data (Jepsen's pause-then-kill, which found
	// duplicates with idempotence on in other brokers).
	faultPauseKill faultKind = "pausekill"
	// faultFetchCut: only its inter-broker listener is cut for the hold:
	// no follower can fetch from it, but it still reaches the controller,
	// so it shrinks its ISRs to itself alone and refuses acks=all writes
	// (NOT_ENOUGH_REPLICAS) instead of losing its leaderships.
	faultFetchCut faultKind = "fetchcut"
)

// allFaultKinds are the faults the matrix and the random schedule apply.
var allFaultKinds = []faultKind{faultKill9, faultShutdown, faultPause, faultRestart, faultPartition, faultPauseKill, faultFetchCut}

// faultTarget says which node a fault hits.
type faultTarget string

const (
	// targetLeader: the leader of a partition of the workload's topic that
	// is not the active controller.
	targetLeader faultTarget = "leader"
	// targetController: the active controller (which also hosts and leads
	// partitions: placement is automatic).
	targetController faultTarget = "controller"
)

// faultStep is one fault to inject.
type faultStep struct {
	kind   faultKind
	target faultTarget
	hold   time.Duration
	mode   proxyMode // faultPartition only
}

func (s faultStep) String() string {
	if s.kind == faultPartition || s.kind == faultFetchCut {
		return fmt.Sprintf("%s(%s) %s for %v", s.kind, s.mode, s.target, s.hold.Round(time.Millisecond))
	}
	if s.kind == faultRestart {
		return fmt.Sprintf("%s %s", s.kind, s.target)
	}
	return fmt.Sprintf("%s %s for %v", s.kind, s.target, s.hold.Round(time.Millisecond))
}

// pickTarget resolves a target to a node ID.
func (c *faultCluster) pickTarget(topic string, target faultTarget) int32 {
	c.t.Helper()
	active := c.activeController(20 * time.Second)
	if target == targetController {
		return active
	}
	for _, l := range c.leaders(topic) {
		if l >= 0 && l != active {
			return l
		}
	}
	// Failovers can leave every leadership on the active controller (there
	// is no preferred leader election): hit a follower instead.
	for _, id := range c.healthy() {
		if id != active {
			c.t.Logf("%s: every partition is led by the active controller %d; node %d only follows", topic, active, id)
			return id
		}
	}
	c.t.Fatalf("%s: no node but the active controller %d is healthy", topic, active)
	return -1
}

// inject applies step to node id and heals it again; it returns once the
// node runs and is reconnected. The workload keeps producing throughout.
func (c *faultCluster) inject(w *faultWorkload, step faultStep, id int32) {
	c.t.Helper()
	p := c.node(id)
	switch step.kind {
	case faultKill9:
		p.kill9()
		time.Sleep(step.hold)
		p.start()
	case faultShutdown:
		c.shutdown(id)
		time.Sleep(step.hold)
		p.start()
	case faultRestart:
		c.shutdown(id)
		p.start()
	case faultPause:
		c.pause(id)
		time.Sleep(step.hold)
		c.resume(id)
	case faultPartition:
		c.partitionNode(w, id, step)
	case faultFetchCut:
		c.fetchCutNode(w, id, step)
	case faultPauseKill:
		c.pause(id)
		time.Sleep(step.hold)
		p.kill9()
		c.resume(id)
		p.start()
	default:
		c.t.Fatalf("unknown fault %q", step.kind)
	}
}

// shutdown stops node id with SIGTERM and checks that its controlled
// shutdown completed: the controller moved its leaderships away before it
// stopped, so clients saw only retriable errors (NOT_LEADER_OR_FOLLOWER)
// and no partition waited for a session to expire. An incarnation that
// never registered (stopped right after a restart, while the controller
// still refused it as a duplicate of the old one) has nothing to hand over.
func (c *faultCluster) shutdown(id int32) {
	c.t.Helper()
	p := c.node(id)
	p.kill()
	logs := p.logs()
	if i := strings.LastIndex(logs, restartMarker); i >= 0 {
		logs = logs[i:]
	}
	if strings.Contains(logs, `msg="registered with the controller"`) && !strings.Contains(logs, `msg="controlled shutdown complete"`) {
		c.t.Errorf("node %d stopped without completing its controlled shutdown", id)
	}
}

// isolatedMarker prefixes the values written straight to an isolated
// leader; none may ever become readable.
const isolatedMarker = "isolated-leader-write"

// partitionNode cuts node id off for step.hold and checks what must happen
// meanwhile: an acks=all write sent straight to it is not acknowledged (it
// cannot replicate and cannot shrink its ISR without the controller); the
// other nodes elect new leaders for its partitions; and the producer moves
// there and gets acknowledgements again.
func (c *faultCluster) partitionNode(w *faultWorkload, id int32, step faultStep) {
	c.t.Helper()
	start := time.Now()
	var led []int32
	for p, l := range c.leaders(w.topic) {
		if l == id {
			led = append(led, int32(p))
		}
	}
	c.isolate(id, step.mode)
	defer c.reconnect(id)

	// appended: the isolated leader took a write it cannot commit, so its
	// log must grow a tail that the heal truncates.
	appended := false
	if len(led) > 0 {
		code, err := rawProduce(c.node(id).addr(), w.topic, led[0], 1500*time.Millisecond, fmt.Sprintf("%s-%d", isolatedMarker, start.UnixNano()))
		switch {
		case err != nil:
			c.t.Logf("acks=all write to isolated node %d: no answer (%v)", id, err)
		case code == 0:
			c.t.Errorf("isolated node %d acknowledged an acks=all write to %s-%d it could not replicate", id, w.topic, led[0])
		default:
			// REQUEST_TIMED_OUT: appended, never committed.
			appended = code == kerr.RequestTimedOut.Code
			c.t.Logf("acks=all write to isolated node %d: %v", id, kerr.ErrorForCode(code))
		}
	}

	// New leaders among the others: after the session timeout the
	// controller fences the isolated broker and elects from the rest of the
	// ISR.
	electBound := faultSessionTimeout + 10*time.Second
	var elected time.Time
	for deadline := time.Now().Add(electBound); ; {
		ok := true
		for _, hid := range c.healthy() {
			parts, err := c.partitions(hid, w.topic)
			if err != nil {
				ok = false
				break
			}
			for _, p := range led {
				if l := parts[p].Leader; l == id || l < 0 {
					ok = false
				}
			}
		}
		if ok {
			elected = time.Now()
			break
		}
		if time.Now().After(deadline) {
			c.t.Errorf("%s: partitions %v still led by isolated node %d (or by none) %v after the cut", w.topic, led, id, electBound)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Producers follow the new leaders.
	ackBound := 20 * time.Second
	for _, p := range led {
		for deadline := time.Now().Add(ackBound); !w.lastAckOf(p).After(elected); {
			if time.Now().After(deadline) {
				c.t.Errorf("%s-%d: no record acknowledged within %v of the new leader's election while node %d is cut off", w.topic, p, ackBound, id)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.t.Logf("node %d cut off: new leaders for %v after %v, producing again after %v", id, led,
		elected.Sub(start).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if rest := step.hold - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	if appended {
		c.checkUncommittedTail(w.topic, led[0], id)
	}
}

// fetchCutNode cuts only node id's inter-broker listener for step.hold and
// checks what must happen meanwhile: the node, still heartbeating, keeps
// its leaderships, shrinks their ISR to itself once its followers lag past
// replica.lag.time.max.ms, and then refuses acks=all writes with
// NOT_ENOUGH_REPLICAS (min.insync.replicas=2).
func (c *faultCluster) fetchCutNode(w *faultWorkload, id int32, step faultStep) {
	c.t.Helper()
	start := time.Now()
	var led []int32
	for p, l := range c.leaders(w.topic) {
		if l == id {
			led = append(led, int32(p))
		}
	}
	c.internal[id-1].cut(step.mode)
	defer c.internal[id-1].heal()
	if len(led) == 0 {
		time.Sleep(step.hold)
		return
	}
	bound := faultLagMax + 10*time.Second
	for deadline := time.Now().Add(bound); ; {
		parts, err := c.partitions(id, w.topic)
		shrunk := err == nil
		for _, p := range led {
			if shrunk && (parts[p].Leader != id || !slices.Equal(parts[p].ISR, []int32{id})) {
				shrunk = false
			}
		}
		if shrunk {
			break
		}
		if time.Now().After(deadline) {
			c.t.Errorf("%s: partitions %v of node %d, cut off from its followers, did not shrink their ISR to it alone within %v: %v %v", w.topic, led, id, bound, parts, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, err := rawProduce(c.node(id).addr(), w.topic, led[0], 1500*time.Millisecond, isolatedMarker+"-fetchcut")
	if err != nil || code != kerr.NotEnoughReplicas.Code {
		c.t.Errorf("acks=all write to %s-%d with ISR [%d] and min.insync.replicas=2: %v %v, want NOT_ENOUGH_REPLICAS", w.topic, led[0], id, kerr.ErrorForCode(code), err)
	}
	c.t.Logf("node %d cut off from its followers: ISR of %v shrank to it alone after %v", id, led, time.Since(start).Round(time.Millisecond))
	if rest := step.hold - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
}

// checkUncommittedTail checks, before the heal, that isolated node id's
// log of partition p ends in batches the partition's new leader does not
// have: the writes it took and could not commit. After the heal, the
// case's log comparison proves they were truncated.
func (c *faultCluster) checkUncommittedTail(topic string, p, id int32) {
	c.t.Helper()
	leader := c.leaders(topic)[p]
	mine, err := replicaBatches(c.dirs[id-1], topic, p)
	if err != nil {
		c.t.Errorf("read the isolated node's log: %v", err)
		return
	}
	theirs, err := replicaBatches(c.dirs[leader-1], topic, p)
	if err != nil {
		c.t.Errorf("read the new leader's log: %v", err)
		return
	}
	common := 0
	for common < min(len(mine), len(theirs)) && mine[common] == theirs[common] {
		common++
	}
	if common == len(mine) {
		c.t.Errorf("%s-%d: isolated node %d took a write it could not commit, but its log (%d batches) holds nothing new leader %d lacks", topic, p, id, len(mine), leader)
		return
	}
	c.t.Logf("%s-%d: isolated node %d holds %d uncommitted batches past the %d it shares with new leader %d", topic, p, id, len(mine)-common, common, leader)
}

// rawProduce sends one acks=all batch of values straight to addr (no
// client retries, no metadata) and returns the partition's error code.
func rawProduce(addr, topic string, partition int32, timeout time.Duration, values ...string) (int16, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = rawBatch(-1, -1, -1, values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kr, err := rawRequest(addr, req, timeout+2*time.Second)
	if err != nil {
		return 0, err
	}
	resp := kr.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("malformed produce response")
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

// faultPartitions is the number of partitions of each case's topic: two
// led by each node.
const faultPartitions = 6

// runFaultCase runs one fault against a fresh topic on c with the workload
// running, then checks the invariants: the cluster returns to a full ISR,
// every record ends acknowledged, every acknowledged record is stored once
// at its offset in produce order, and the replicas' logs are identical.
func runFaultCase(t *testing.T, c *faultCluster, topic string, steps []faultStep) {
	t.Helper()
	c.createTopic(topic, faultPartitions)
	w := startWorkload(t, c, topic, faultPartitions)
	w.waitAcked(100, 30*time.Second)
	for i, step := range steps {
		id := c.pickTarget(topic, step.target)
		t.Logf("step %d: %v: node %d (%d acknowledged so far)", i, step, id, w.ackedCount())
		c.inject(w, step, id)
		healed := time.Now()
		c.waitFullISR(topic, 30*time.Second)
		t.Logf("step %d: full ISR %v after the heal", i, time.Since(healed).Round(time.Millisecond))
		w.waitAcked(50, 30*time.Second)
	}
	c.checkWorkload(w)
}

// checkWorkload stops w and checks every invariant of its topic.
func (c *faultCluster) checkWorkload(w *faultWorkload) {
	c.t.Helper()
	w.finish(60 * time.Second)
	c.waitFullISR(w.topic, 30*time.Second)
	read := readAll(c.t, c, w.topic, w.parts, 60*time.Second)
	stored := w.verify(read)
	c.waitLogsConverge(w.topic, w.parts, 30*time.Second)
	c.t.Logf("%s: %d records acknowledged, %d stored", w.topic, w.ackedCount(), stored)
}

// fencings counts, in every node's log, the controller's fencings of each
// of ids for an expired session.
func (c *faultCluster) fencings(ids []int32) map[int32]int {
	out := map[int32]int{}
	for _, p := range c.nodes {
		for _, line := range strings.Split(p.logs(), "\n") {
			if !strings.Contains(line, `msg="fenced broker: its session expired"`) {
				continue
			}
			for _, id := range ids {
				if strings.Contains(line, fmt.Sprintf(" node.id=%d ", id)) {
					out[id]++
				}
			}
		}
	}
	return out
}
