package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeClock is a Config.Now that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Default session timeout of the tests: broker.session.timeout.ms=9000.
const sessionTimeout = 9 * time.Second

// lifecycleController opens an in-memory controller (node 1) on a fake
// clock.
func lifecycleController(t *testing.T, props map[string]string) (*Controller, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg := testConfig(t, props)
	cfg.Now = clock.Now
	cfg.NewQuorum = func(sm StateMachine) (Quorum, error) { return &memoryQuorum{sm: sm}, nil }
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, clock
}

func incarnation(id int32, n byte) [16]byte { return [16]byte{byte(id), n} }

func registerInc(c *Controller, id int32, inc byte) (int64, error) {
	return c.RegisterBroker(context.Background(), BrokerRegistration{
		NodeID: id, IncarnationID: incarnation(id, inc),
		Listeners: []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9000 + id}},
	})
}

func beat(t *testing.T, c *Controller, hb BrokerHeartbeat) HeartbeatResult {
	t.Helper()
	res, err := c.BrokerHeartbeat(context.Background(), hb)
	if err != nil {
		t.Fatalf("BrokerHeartbeat %+v: %v", hb, err)
	}
	return res
}

// join registers broker id (incarnation 1) and unfences it.
func join(t *testing.T, c *Controller, id int32) int64 {
	t.Helper()
	epoch, err := registerInc(c, id, 1)
	if err != nil {
		t.Fatalf("RegisterBroker %d: %v", id, err)
	}
	res := beat(t, c, BrokerHeartbeat{NodeID: id, BrokerEpoch: epoch, CurrentMetadataOffset: c.Image().Offset})
	if res.IsFenced {
		t.Fatalf("broker %d still fenced after a caught-up heartbeat", id)
	}
	return epoch
}

// keepAlive heartbeats every broker in ids, caught up, at the current time.
func keepAlive(t *testing.T, c *Controller, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		b := c.Image().Brokers[id]
		beat(t, c, BrokerHeartbeat{NodeID: id, BrokerEpoch: b.Epoch, CurrentMetadataOffset: c.Image().Offset})
	}
}

func partitionOf(t *testing.T, c *Controller, topic string, p int32) PartitionImage {
	t.Helper()
	pi, ok := c.Image().Partition(topic, p)
	if !ok {
		t.Fatalf("no partition %s-%d", topic, p)
	}
	return pi
}

func assign(name string, parts ...[]int32) CreateTopic {
	a := map[int32][]int32{}
	for i, r := range parts {
		a[int32(i)] = r
	}
	return CreateTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1, Assignments: a}
}

func TestRegisteredBrokerIsFencedUntilCaughtUp(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	epoch, err := registerInc(c, 2, 1)
	wantKerr(t, err, nil)
	wantEq(t, epoch, c.Image().Offset) // the broker epoch is the offset of its record
	wantEq(t, c.Image().Brokers[2].Fenced, true)

	res := beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch, CurrentMetadataOffset: epoch - 1})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: false, IsFenced: true})
	res = beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch, CurrentMetadataOffset: epoch, WantFence: true})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: true})
	wantEq(t, c.Image().Brokers[2].Fenced, true)
	res = beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch, CurrentMetadataOffset: epoch})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: false})
	wantEq(t, c.Image().Brokers[2].Fenced, false)
	// Later heartbeats change nothing.
	before := c.Image()
	beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch, CurrentMetadataOffset: before.Offset})
	if c.Image() != before {
		t.Fatal("a steady heartbeat committed metadata")
	}
	// An unfenced broker asking to be fenced is fenced.
	res = beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch, CurrentMetadataOffset: before.Offset, WantFence: true})
	wantEq(t, res.IsFenced, true)
	wantEq(t, c.Image().Brokers[2].Fenced, true)
}

func TestHeartbeatErrors(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	epoch := join(t, c, 2)
	ctx := context.Background()
	_, err := c.BrokerHeartbeat(ctx, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch - 1})
	wantKerr(t, err, kerr.StaleBrokerEpoch)
	_, err = c.BrokerHeartbeat(ctx, BrokerHeartbeat{NodeID: 3, BrokerEpoch: epoch})
	wantKerr(t, err, kerr.BrokerIDNotRegistered)

	// A controller that is not active refuses everything.
	c.lifecycle.deactivate()
	_, err = c.BrokerHeartbeat(ctx, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch})
	wantKerr(t, err, kerr.NotController)
	_, err = registerInc(c, 3, 1)
	wantKerr(t, err, kerr.NotController)
	wantKerr(t, c.UnregisterBroker(ctx, 2), kerr.NotController)
	wantKerr(t, c.FenceStaleBrokers(ctx, time.Now()), kerr.NotController)
	_, err = c.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epoch})
	wantKerr(t, err, kerr.NotController)
	c.lifecycle.activate()
	beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch})
}

func TestDuplicateRegistration(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	epoch := join(t, c, 2)
	createTopic(t, c, assign("t", []int32{2}))

	// The same incarnation again gets its epoch back, nothing committed.
	before := c.Image()
	again, err := registerInc(c, 2, 1)
	wantKerr(t, err, nil)
	wantEq(t, again, epoch)
	if c.Image() != before {
		t.Fatal("an idempotent registration committed metadata")
	}

	// Another incarnation while the first one's session lives is refused.
	clock.Advance(sessionTimeout)
	_, err = registerInc(c, 2, 2)
	wantKerr(t, err, kerr.DuplicateBrokerRegistration)

	// Once the session expired it replaces it: fenced, and the old
	// incarnation's leaderships are given up in the same entry.
	clock.Advance(time.Millisecond)
	newEpoch, err := registerInc(c, 2, 2)
	wantKerr(t, err, nil)
	if newEpoch <= epoch {
		t.Fatalf("new epoch %d not above %d", newEpoch, epoch)
	}
	b := c.Image().Brokers[2]
	wantEq(t, b.Epoch, newEpoch)
	wantEq(t, b.IncarnationID, incarnation(2, 2))
	wantEq(t, b.Fenced, true)
	p := partitionOf(t, c, "t", 0)
	wantEq(t, p.Leader, NoLeader)
	wantEq(t, p.ISR, []int32{2})

	// The old incarnation is stale now; the new one leads again once
	// caught up.
	_, err = c.BrokerHeartbeat(context.Background(), BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch})
	wantKerr(t, err, kerr.StaleBrokerEpoch)
	beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: newEpoch, CurrentMetadataOffset: newEpoch})
	wantEq(t, partitionOf(t, c, "t", 0).Leader, int32(2))

	// A fenced registration is no obstacle, whatever its session.
	beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: newEpoch, CurrentMetadataOffset: c.Image().Offset, WantFence: true})
	_, err = registerInc(c, 2, 3)
	wantKerr(t, err, nil)
}

func TestOwnNodeReRegistersAfterRestart(t *testing.T) {
	// The controller is node 1. Its own broker's previous run has only the
	// grace session a newly active controller hands out: a new incarnation
	// of node 1 is that node restarted, not a duplicate.
	c, clock := lifecycleController(t, nil)
	join(t, c, 1)
	join(t, c, 2)
	c.lifecycle.deactivate()
	clock.Advance(time.Second)
	c.lifecycle.activate()
	_, err := registerInc(c, 2, 2)
	wantKerr(t, err, kerr.DuplicateBrokerRegistration)
	epoch, err := registerInc(c, 1, 2)
	wantKerr(t, err, nil)
	// Heard from, node 1's session is a live one like any other.
	beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch, CurrentMetadataOffset: c.Image().Offset})
	_, err = registerInc(c, 1, 3)
	wantKerr(t, err, kerr.DuplicateBrokerRegistration)
}

func TestSessionExpiryFencesAndReelects(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	for id := int32(1); id <= 3; id++ {
		join(t, c, id)
	}
	createTopic(t, c, assign("t", []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}))
	start := clock.Now()
	before := c.Image()
	epoch1 := before.Brokers[1].Epoch

	clock.Advance(8 * time.Second)
	keepAlive(t, c, 2, 3)
	// Exactly the session timeout after its last heartbeat broker 1 is
	// still in; just past it, it is out.
	wantKerr(t, c.FenceStaleBrokers(context.Background(), start.Add(sessionTimeout)), nil)
	wantEq(t, c.Image().Brokers[1].Fenced, false)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), start.Add(sessionTimeout+time.Millisecond)), nil)
	img := c.Image()
	wantEq(t, img.Brokers[1].Fenced, true)
	wantEq(t, img.Brokers[2].Fenced, false)

	tests := []struct {
		p               int32
		leader          int32
		isr             []int32
		leaderEpochBump int32
	}{
		{0, 2, []int32{2, 3}, 1}, // led by 1: the next replica in the ISR leads
		{1, 2, []int32{2, 3}, 0}, // follower 1 leaves the ISR, leader unchanged
		{2, 3, []int32{3, 2}, 0},
	}
	for _, tt := range tests {
		o, _ := before.Partition("t", tt.p)
		n := partitionOf(t, c, "t", tt.p)
		wantEq(t, n.Leader, tt.leader)
		wantEq(t, n.ISR, tt.isr)
		wantEq(t, n.LeaderEpoch, o.LeaderEpoch+tt.leaderEpochBump)
		wantEq(t, n.PartitionEpoch, o.PartitionEpoch+1)
	}
	// Broker 1's old epoch is refused, and it is no longer live.
	_, err := c.BrokerHeartbeat(context.Background(), BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch1 + 1})
	wantKerr(t, err, kerr.StaleBrokerEpoch)
	wantEq(t, len(c.Image().LiveBrokers()), 2)
}

func TestLastISRMemberDiesAndReturns(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	join(t, c, 1)
	epoch2 := join(t, c, 2)
	createTopic(t, c, assign("solo", []int32{2}))
	before := partitionOf(t, c, "solo", 0)

	now := clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 1)
	now = clock.Advance(sessionTimeout/2 + time.Millisecond)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), now), nil)
	p := partitionOf(t, c, "solo", 0)
	wantEq(t, p.Leader, NoLeader)
	wantEq(t, p.ISR, []int32{2}) // never emptied: 2 is the one replica with the data
	wantEq(t, p.LeaderEpoch, before.LeaderEpoch+1)

	// Nothing else can lead it while 2 is away.
	wantKerr(t, c.electLeaderlessPartitions(context.Background()), nil)
	wantEq(t, partitionOf(t, c, "solo", 0).Leader, NoLeader)

	// Broker 2 comes back (same incarnation) and leads again once caught up.
	res := beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: epoch2, CurrentMetadataOffset: c.Image().Offset})
	wantEq(t, res.IsFenced, false)
	p = partitionOf(t, c, "solo", 0)
	wantEq(t, p.Leader, int32(2))
	wantEq(t, p.LeaderEpoch, before.LeaderEpoch+2)
}

func TestUncleanLeaderElection(t *testing.T) {
	tests := []struct {
		name    string
		static  map[string]string
		cluster string // cluster-wide dynamic value, "" for none
		topic   string // topic override, "" for none
		unclean bool
	}{
		{name: "off by default"},
		{name: "static config", static: map[string]string{"unclean.leader.election.enable": "true"}, unclean: true},
		{name: "cluster-wide dynamic config", cluster: "true", unclean: true},
		{name: "topic override", topic: "true", unclean: true},
		{name: "topic override wins", static: map[string]string{"unclean.leader.election.enable": "true"}, topic: "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clock := lifecycleController(t, tt.static)
			for id := int32(1); id <= 3; id++ {
				join(t, c, id)
			}
			createTopic(t, c, assign("t", []int32{1, 2}))
			ctx := context.Background()
			if tt.cluster != "" {
				res := c.AlterConfigs(ctx, []ConfigChange{{Resource: ConfigResource{Type: ConfigResourceBroker},
					Ops: []ConfigOp{set("unclean.leader.election.enable", tt.cluster)}}}, true, false)
				wantKerr(t, res[0].Err, nil)
			}
			if tt.topic != "" {
				res := c.AlterConfigs(ctx, []ConfigChange{{Resource: topicRes("t"),
					Ops: []ConfigOp{set("unclean.leader.election.enable", tt.topic)}}}, true, false)
				wantKerr(t, res[0].Err, nil)
			}
			// Leader 1 shrinks the ISR to itself, then dies.
			p := partitionOf(t, c, "t", 0)
			_, err := c.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 1, BrokerEpoch: c.Image().Brokers[1].Epoch,
				Topics: []AlterPartitionTopic{{TopicID: c.Image().Topics["t"].ID, Partitions: []AlterPartitionProposal{{
					LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []ISRMember{{1, -1}},
				}}}}})
			wantKerr(t, err, nil)
			now := clock.Advance(sessionTimeout / 2)
			keepAlive(t, c, 2, 3)
			now = clock.Advance(sessionTimeout/2 + time.Millisecond)
			wantKerr(t, c.FenceStaleBrokers(ctx, now), nil)
			p = partitionOf(t, c, "t", 0)
			if tt.unclean {
				wantEq(t, p.Leader, int32(2))
				wantEq(t, p.ISR, []int32{2})
			} else {
				wantEq(t, p.Leader, NoLeader)
				wantEq(t, p.ISR, []int32{1})
			}
		})
	}
}

func TestTurningOnUncleanElectionElectsOfflinePartitions(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	join(t, c, 1)
	join(t, c, 2)
	createTopic(t, c, assign("t", []int32{1, 2}))
	ctx := context.Background()
	p := partitionOf(t, c, "t", 0)
	_, err := c.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 1, BrokerEpoch: c.Image().Brokers[1].Epoch,
		Topics: []AlterPartitionTopic{{TopicID: c.Image().Topics["t"].ID, Partitions: []AlterPartitionProposal{{
			LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []ISRMember{{1, -1}},
		}}}}})
	wantKerr(t, err, nil)
	now := clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2)
	now = clock.Advance(sessionTimeout/2 + time.Millisecond)
	wantKerr(t, c.FenceStaleBrokers(ctx, now), nil)
	wantEq(t, partitionOf(t, c, "t", 0).Leader, NoLeader)

	res := c.AlterConfigs(ctx, []ConfigChange{{Resource: topicRes("t"),
		Ops: []ConfigOp{set("unclean.leader.election.enable", "true")}}}, true, false)
	wantKerr(t, res[0].Err, nil)
	wantKerr(t, c.electLeaderlessPartitions(ctx), nil)
	p = partitionOf(t, c, "t", 0)
	wantEq(t, p.Leader, int32(2))
	wantEq(t, p.ISR, []int32{2})
}

func TestControlledShutdown(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		epochs[id] = join(t, c, id)
	}
	createTopic(t, c, assign("t", []int32{1, 2, 3}, []int32{1, 3, 2}, []int32{2, 1, 3}))
	createTopic(t, c, assign("solo", []int32{1}))
	keepAlive(t, c, 2, 3)
	before := c.Image()

	shutdown := BrokerHeartbeat{NodeID: 1, BrokerEpoch: epochs[1], CurrentMetadataOffset: before.Offset, WantShutDown: true}
	res := beat(t, c, shutdown)
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: false, ShouldShutDown: false})
	img := c.Image()
	if leadsAny(img, 1) {
		t.Fatal("broker 1 still leads after entering controlled shutdown")
	}
	wantEq(t, partitionOf(t, c, "t", 0).Leader, int32(2))
	wantEq(t, partitionOf(t, c, "t", 0).ISR, []int32{2, 3})
	wantEq(t, partitionOf(t, c, "t", 1).Leader, int32(3))
	wantEq(t, partitionOf(t, c, "t", 2).Leader, int32(2)) // not led by 1: leader unchanged
	wantEq(t, partitionOf(t, c, "t", 2).ISR, []int32{2, 3})
	wantEq(t, partitionOf(t, c, "solo", 0), PartitionImage{Replicas: []int32{1}, ISR: []int32{1}, Leader: NoLeader, LeaderEpoch: 1, PartitionEpoch: 1})
	wantEq(t, img.Brokers[1].Fenced, false) // still serving while leaderships move

	// A shutting-down broker may not rejoin an ISR.
	p := partitionOf(t, c, "t", 0)
	results, err := c.AlterPartition(context.Background(), AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2],
		Topics: []AlterPartitionTopic{{TopicID: img.Topics["t"].ID, Partitions: []AlterPartitionProposal{{
			LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []ISRMember{{2, -1}, {3, -1}, {1, -1}},
		}}}}})
	wantKerr(t, err, nil)
	wantKerr(t, results[0].Err, kerr.IneligibleReplica)

	// The others have not yet reported the offset that moved the
	// leaderships: the shutdown waits for them.
	shutdown.CurrentMetadataOffset = img.Offset
	res = beat(t, c, shutdown)
	wantEq(t, res.ShouldShutDown, false)
	keepAlive(t, c, 2, 3)
	res = beat(t, c, shutdown)
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: true, ShouldShutDown: true})
	wantEq(t, c.Image().Brokers[1].Fenced, true)

	// A broker that leads nothing stops at once.
	epoch4 := join(t, c, 4)
	res = beat(t, c, BrokerHeartbeat{NodeID: 4, BrokerEpoch: epoch4, CurrentMetadataOffset: c.Image().Offset, WantShutDown: true})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: true, ShouldShutDown: true})
	wantEq(t, c.Image().Brokers[4].Fenced, true)
}

func TestControlledShutdownMovesLeadershipsPlacedMeanwhile(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	e1, e2 := join(t, c, 1), join(t, c, 2)
	createTopic(t, c, assign("a", []int32{1, 2}))
	shutdown := BrokerHeartbeat{NodeID: 1, BrokerEpoch: e1, CurrentMetadataOffset: c.Image().Offset, WantShutDown: true}
	beat(t, c, shutdown)
	// Broker 1 is still unfenced in the image, so a hand-placed partition
	// can name it leader; its next heartbeat moves that one too.
	createTopic(t, c, assign("b", []int32{1, 2}))
	wantEq(t, partitionOf(t, c, "b", 0).Leader, int32(1))
	beat(t, c, shutdown)
	wantEq(t, partitionOf(t, c, "b", 0).Leader, int32(2))
	beat(t, c, BrokerHeartbeat{NodeID: 2, BrokerEpoch: e2, CurrentMetadataOffset: c.Image().Offset})
	wantEq(t, beat(t, c, shutdown).ShouldShutDown, true)
}

func TestUnregisterBroker(t *testing.T) {
	c, _ := lifecycleController(t, nil)
	join(t, c, 1)
	join(t, c, 2)
	createTopic(t, c, assign("t", []int32{2, 1}))
	ctx := context.Background()
	wantKerr(t, c.UnregisterBroker(ctx, 7), kerr.BrokerIDNotRegistered)
	wantKerr(t, c.UnregisterBroker(ctx, 2), nil)
	if _, ok := c.Image().Broker(2); ok {
		t.Fatal("broker 2 still registered")
	}
	p := partitionOf(t, c, "t", 0)
	wantEq(t, p.Leader, int32(1))
	wantEq(t, p.ISR, []int32{1})
	wantKerr(t, c.UnregisterBroker(ctx, 2), kerr.BrokerIDNotRegistered)
	// The node can register anew.
	_, err := registerInc(c, 2, 5)
	wantKerr(t, err, nil)
}

func TestFailoverGivesEveryBrokerAGracePeriod(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	join(t, c, 1)
	join(t, c, 2)
	// The controller loses and regains leadership long after the last
	// heartbeats: the new term starts every session over.
	c.lifecycle.deactivate()
	now := clock.Advance(3 * sessionTimeout)
	c.lifecycle.activate()
	wantKerr(t, c.FenceStaleBrokers(context.Background(), now), nil)
	wantEq(t, len(c.Image().LiveBrokers()), 2)
	now = clock.Advance(sessionTimeout / 2)
	keepAlive(t, c, 2)
	now = clock.Advance(sessionTimeout/2 + time.Millisecond)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), now), nil)
	wantEq(t, c.Image().Brokers[1].Fenced, true)
	wantEq(t, c.Image().Brokers[2].Fenced, false)
}

func TestSessionCheckerFencesOnItsOwn(t *testing.T) {
	c, clock := lifecycleController(t, map[string]string{
		"broker.heartbeat.interval.ms": "2", "broker.session.timeout.ms": "50",
	})
	join(t, c, 1)
	join(t, c, 2)
	createTopic(t, c, assign("t", []int32{2, 1}))
	fenced := make(chan struct{})
	var once sync.Once
	c.Subscribe(func(d *Delta) {
		for _, b := range d.ChangedBrokers() {
			if b.NodeID == 2 && b.New != nil && b.New.Fenced {
				once.Do(func() { close(fenced) })
			}
		}
	})
	// Only broker 1 keeps heartbeating; the checker runs every 1 ms of real
	// time and reads the fake clock.
	clock.Advance(30 * time.Millisecond)
	keepAlive(t, c, 1)
	clock.Advance(30 * time.Millisecond)
	select {
	case <-fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("the session checker did not fence broker 2")
	}
	p := partitionOf(t, c, "t", 0)
	wantEq(t, p.Leader, int32(1))
	wantEq(t, p.ISR, []int32{1})
	wantEq(t, c.Image().Brokers[1].Fenced, false)
	// Close stops the checker and waits for it.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	live := c.Image().LiveBrokers()
	wantEq(t, len(live), 1)
	wantEq(t, live[0].NodeID, int32(1))
}

func TestSingleNodeRestart(t *testing.T) {
	// The path of a one-node cluster killed and started again: the restarted
	// controller hands its own broker's old incarnation a grace session, yet
	// the new incarnation registers at once and leads again once caught up.
	dir := t.TempDir()
	c := testController(t, dir, nil)
	epoch, err := registerInc(c, 1, 1)
	wantKerr(t, err, nil)
	beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch, CurrentMetadataOffset: c.Image().Offset})
	createTopic(t, c, CreateTopic{Name: "t", NumPartitions: 2, ReplicationFactor: 1})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = testController(t, dir, nil)
	wantEq(t, c.Image().Brokers[1].Fenced, false) // as the killed run left it
	epoch2, err := registerInc(c, 1, 2)
	wantKerr(t, err, nil)
	for p := int32(0); p < 2; p++ {
		wantEq(t, partitionOf(t, c, "t", p).Leader, NoLeader) // the fenced new incarnation does not lead yet
	}
	res := beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch2, CurrentMetadataOffset: c.Image().Offset})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true})
	for p := int32(0); p < 2; p++ {
		pi := partitionOf(t, c, "t", p)
		wantEq(t, pi.Leader, int32(1))
		wantEq(t, pi.LeaderEpoch, int32(2))
	}

	// A clean stop: controlled shutdown, then the restart finds it fenced.
	res = beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch2, CurrentMetadataOffset: c.Image().Offset, WantShutDown: true})
	wantEq(t, res.ShouldShutDown, false)
	res = beat(t, c, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch2, CurrentMetadataOffset: c.Image().Offset, WantShutDown: true})
	wantEq(t, res, HeartbeatResult{IsCaughtUp: true, IsFenced: true, ShouldShutDown: true})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = testController(t, dir, nil)
	wantEq(t, c.Image().Brokers[1].Fenced, true)
	_, err = registerInc(c, 1, 3)
	wantKerr(t, err, nil)
}

func TestContactNeedsTheRegisteredEpoch(t *testing.T) {
	c, clock := lifecycleController(t, nil)
	epoch := join(t, c, 2)
	later := clock.Now().Add(5 * time.Second)
	c.lifecycle.contact(2, epoch-1, later) // an old incarnation keeps nothing alive
	s, _ := c.lifecycle.session(c.Image(), 2, clock.Now())
	wantEq(t, s.LastContact, clock.Now())
	c.lifecycle.contact(2, epoch, later)
	s, _ = c.lifecycle.session(c.Image(), 2, clock.Now())
	wantEq(t, s.LastContact, later)
	// Contact is what the session checker measures from.
	wantKerr(t, c.FenceStaleBrokers(context.Background(), later.Add(sessionTimeout)), nil)
	wantEq(t, c.Image().Brokers[2].Fenced, false)
	wantKerr(t, c.FenceStaleBrokers(context.Background(), later.Add(sessionTimeout+time.Millisecond)), nil)
	wantEq(t, c.Image().Brokers[2].Fenced, true)
}
