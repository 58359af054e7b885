package group

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// manualClock is a clock that moves only when the test advances it; timers
// due by then fire on the advancing goroutine, in deadline order.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *manualTimer) bool { return x == t })
	return was
}

// Advance moves time forward by d, firing every timer due on the way
// (including timers those callbacks schedule within the window).
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		var next *manualTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		c.timers = slices.DeleteFunc(c.timers, func(x *manualTimer) bool { return x == next })
		next.stopped = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

const (
	testNode       = int32(1)
	testPartitions = int32(3)
	testSession    = 10 * time.Second
	testRebalance  = 20 * time.Second
	testDelay      = 100 * time.Millisecond
)

// testEnv is a coordinator over a real single-node replica manager whose
// logs live in a temp dir, leading every __consumer_offsets partition with
// RF 1. restart closes everything and opens it again over the same logs.
type testEnv struct {
	t        *testing.T
	dir      string
	clock    *manualClock
	cfg      Config
	epoch    int32
	logs     *plog.Manager
	replicas *replica.Manager
	coord    *Coordinator
}

func newTestEnv(t *testing.T, tweak func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), clock: newManualClock(), epoch: 1}
	e.cfg = Config{
		NodeID:                 testNode,
		Codecs:                 record.NewCodecs(),
		NumPartitions:          testPartitions,
		MinSessionTimeout:      time.Second,
		MaxSessionTimeout:      time.Minute,
		InitialRebalanceDelay:  testDelay,
		MaxSize:                100,
		OffsetsRetention:       time.Hour,
		OffsetsRetentionCheck:  time.Minute,
		OffsetMetadataMaxBytes: 64,
		OffsetCommitTimeout:    5 * time.Second,
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) start() {
	t := e.t
	t.Helper()
	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{e.dir}, NodeID: testNode, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	e.logs = logs
	e.replicas = replica.NewManager(replica.ManagerConfig{NodeID: testNode, Logs: logs})
	for p := range testPartitions {
		e.host(p)
	}
	cfg := e.cfg
	cfg.Replicas = e.replicas
	e.coord = newCoordinator(cfg, e.clock)
	for p := range testPartitions {
		e.coord.Elect(p, e.epoch)
	}
	e.waitLoaded()
}

// host makes this node the leader of __consumer_offsets-p at e.epoch.
func (e *testEnv) host(p int32) {
	e.t.Helper()
	st := replica.State{TopicID: [16]byte{1, 2, 3}, Replicas: []int32{testNode}, ISR: []int32{testNode},
		Leader: testNode, LeaderEpoch: e.epoch, PartitionEpoch: e.epoch}
	cfg := replica.Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, Compression: "producer"}
	if err := e.replicas.ApplyState(plog.TopicPartition{Topic: OffsetsTopic, Partition: p}, st, cfg); err != nil {
		e.t.Fatal(err)
	}
}

// waitLoaded waits for every shard's load to end.
func (e *testEnv) waitLoaded() {
	e.t.Helper()
	for _, s := range e.coord.allShards() {
		select {
		case <-s.loaded:
		case <-time.After(10 * time.Second):
			e.t.Fatalf("partition %d did not load", s.partition)
		}
	}
}

func (e *testEnv) stop() {
	if e.coord == nil {
		return
	}
	if err := e.coord.Close(); err != nil {
		e.t.Error(err)
	}
	if err := e.replicas.Close(); err != nil {
		e.t.Error(err)
	}
	if err := e.logs.Close(); err != nil {
		e.t.Error(err)
	}
	e.coord = nil
}

// restart closes the coordinator, the replica manager and the logs, and
// opens them again over the same log dir at the next leader epoch.
func (e *testEnv) restart() {
	e.t.Helper()
	e.stop()
	e.epoch++
	e.start()
}

func (e *testEnv) partitionOf(groupID string) int32 { return e.coord.PartitionFor(groupID) }

// wait receives from ch or fails the test after a generous bound.
func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a parked request")
		panic("unreachable")
	}
}

// ready reports whether ch holds a value, without waiting.
func ready[T any](ch <-chan T) (T, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

func consumerMetadata(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 0
	m.Topics = topics
	return m.AppendTo(nil)
}

func consumerAssignment(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = 0
	if topic != "" {
		a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: partitions}}
	}
	return a.AppendTo(nil)
}

// joinReq is a v9 consumer JoinGroup supporting "range" for topics.
func joinReq(groupID, memberID string, topics ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = groupID
	r.MemberID = memberID
	r.SessionTimeoutMillis = int32(testSession / time.Millisecond)
	r.RebalanceTimeoutMillis = int32(testRebalance / time.Millisecond)
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMetadata(topics...)}}
	return r
}

func syncReq(groupID, memberID string, gen int32, assignments map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = groupID, memberID, gen
	r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for _, id := range slices.Sorted(mapKeys(assignments)) {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: assignments[id]})
	}
	return r
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func heartbeat(e *testEnv, groupID, memberID string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = groupID, memberID, gen
	return e.coord.Heartbeat(context.Background(), r).ErrorCode
}

// joinNew does the two-step join of a new dynamic member (KIP-394) and
// returns its member ID and the channel of its parked second join.
func (e *testEnv) joinNew(groupID string, topics ...string) (string, <-chan joinResult) {
	e.t.Helper()
	resp, wait := e.coord.beginJoin(joinReq(groupID, "", topics...), clientInfo{id: "client", host: "/127.0.0.1"})
	if wait != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
		e.t.Fatalf("first join: got error %d, want MEMBER_ID_REQUIRED", resp.ErrorCode)
	}
	id := resp.MemberID
	resp, wait = e.coord.beginJoin(joinReq(groupID, id, topics...), clientInfo{id: "client", host: "/127.0.0.1"})
	if wait == nil {
		e.t.Fatalf("second join answered at once with error %d", resp.ErrorCode)
	}
	return id, wait
}

// settle advances the clock in steps of the initial rebalance delay until
// every channel in waits has its answer.
func (e *testEnv) settle(waits []<-chan joinResult) []joinResult {
	e.t.Helper()
	out := make([]joinResult, len(waits))
	got := make([]bool, len(waits))
	for range 20 {
		all := true
		for i, w := range waits {
			if got[i] {
				continue
			}
			if r, ok := ready(w); ok {
				out[i], got[i] = r, true
			} else {
				all = false
			}
		}
		if all {
			return out
		}
		e.clock.Advance(max(e.cfg.InitialRebalanceDelay, time.Millisecond))
	}
	e.t.Fatal("joins did not complete")
	return nil
}

// testGroup is a group formed by formGroup.
type testGroup struct {
	id         string
	generation int32
	leader     string
	members    []string // in join order
}

// formGroup forms a Stable group of n consumers subscribed to topics: all
// join in the initial rebalance, the leader assigns partition i of "t" to
// member i, and everyone syncs.
func (e *testEnv) formGroup(groupID string, n int, topics ...string) *testGroup {
	e.t.Helper()
	tg := &testGroup{id: groupID}
	var waits []<-chan joinResult
	for range n {
		id, w := e.joinNew(groupID, topics...)
		tg.members = append(tg.members, id)
		waits = append(waits, w)
	}
	results := e.settle(waits)
	for i, r := range results {
		if r.errCode != 0 {
			e.t.Fatalf("join of %s: error %d", tg.members[i], r.errCode)
		}
		tg.generation = r.generation
		tg.leader = r.leader
	}
	e.syncAll(tg)
	return tg
}

// syncAll syncs every member of tg, the leader last, assigning partition i of
// topic "t" to member i, and checks each gets its assignment.
func (e *testEnv) syncAll(tg *testGroup) {
	e.t.Helper()
	assign := make(map[string][]byte)
	for i, id := range tg.members {
		assign[id] = consumerAssignment("t", int32(i))
	}
	waits := make(map[string]<-chan syncResult)
	for _, id := range tg.members {
		if id == tg.leader {
			continue
		}
		resp, w := e.coord.beginSync(syncReq(tg.id, id, tg.generation, nil))
		if w == nil {
			e.t.Fatalf("sync of follower %s answered at once: error %d", id, resp.ErrorCode)
		}
		waits[id] = w
	}
	resp, w := e.coord.beginSync(syncReq(tg.id, tg.leader, tg.generation, assign))
	if w == nil {
		e.t.Fatalf("sync of leader answered at once: error %d", resp.ErrorCode)
	}
	waits[tg.leader] = w
	for id, w := range waits {
		r := wait(e.t, w)
		if r.errCode != 0 || string(r.assignment) != string(assign[id]) {
			e.t.Fatalf("sync of %s: error %d, assignment %x, want %x", id, r.errCode, r.assignment, assign[id])
		}
	}
}

// groupState returns the state of a group under the shard lock.
func (e *testEnv) groupState(groupID string) (groupState, int32, bool) {
	s, code := e.coord.lockShard(groupID)
	if code != 0 {
		e.t.Fatalf("lock shard of %s: %d", groupID, code)
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return stateDead, -1, false
	}
	return g.state, g.generation, true
}

func commitReq(groupID, memberID string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 9
	r.Group, r.MemberID, r.Generation = groupID, memberID, gen
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for _, p := range slices.Sorted(func(yield func(int32) bool) {
		for p := range offsets {
			if !yield(p) {
				return
			}
		}
	}) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[p], 7
		rp.Metadata = kmsg.StringPtr("md")
		t.Partitions = append(t.Partitions, rp)
	}
	r.Topics = append(r.Topics, t)
	return r
}

// commitCodes returns the error codes of a commit response, partition by
// partition in request order.
func commitCodes(resp *kmsg.OffsetCommitResponse) []int16 {
	var out []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.ErrorCode)
		}
	}
	return out
}

// fetchOffsetsOf fetches all offsets of groupID (v9, all topics).
func (e *testEnv) fetchOffsetsOf(groupID string) (int16, map[topicPartition]kmsg.OffsetFetchResponseGroupTopicPartition) {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 9
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = groupID
	r.Groups = append(r.Groups, rg)
	resp := e.coord.OffsetFetch(context.Background(), r)
	out := make(map[topicPartition]kmsg.OffsetFetchResponseGroupTopicPartition)
	g := resp.Groups[0]
	for _, t := range g.Topics {
		for _, p := range t.Partitions {
			out[topicPartition{topic: t.Topic, partition: p.Partition}] = p
		}
	}
	return g.ErrorCode, out
}

func describe(e *testEnv, version int16, groupID string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = version
	r.Groups = []string{groupID}
	return e.coord.DescribeGroups(context.Background(), r).Groups[0]
}

// groupOnOtherPartition finds a group ID that maps to a partition other than
// those of the given groups.
func (e *testEnv) groupOnOtherPartition(groups ...string) string {
	for i := range 1000 {
		id := "g" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if !slices.ContainsFunc(groups, func(g string) bool { return e.partitionOf(g) == e.partitionOf(id) }) {
			return id
		}
	}
	panic("no group found")
}

// sibling returns a group ID starting with prefix on the partition of ref.
func (e *testEnv) sibling(prefix, ref string) string {
	for i := range 1000 {
		id := prefix + "-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if e.partitionOf(id) == e.partitionOf(ref) {
			return id
		}
	}
	panic("no group found")
}
