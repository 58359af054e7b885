package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// leaderQuorum is a LeaderAware memory quorum whose leadership the test
// moves by hand.
type leaderQuorum struct {
	sm StateMachine

	mu        sync.Mutex
	leader    bool
	fail      error
	failed    chan struct{} // a Propose failed with fail
	listeners []func(bool, int32)
}

func (q *leaderQuorum) Propose(ctx context.Context, recs []Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.leader {
		return kerr.NotController
	}
	if q.fail != nil {
		select {
		case q.failed <- struct{}{}:
		default:
		}
		return q.fail
	}
	return q.sm.ApplyEntry(recs)
}

func (q *leaderQuorum) Close() error { return nil }

func (q *leaderQuorum) IsLeader() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.leader
}

func (q *leaderQuorum) Leader() (int32, bool) {
	if q.IsLeader() {
		return 1, true
	}
	return 7, true
}

func (q *leaderQuorum) OnLeaderChange(fn func(bool, int32)) {
	q.mu.Lock()
	q.listeners = append(q.listeners, fn)
	q.mu.Unlock()
	id, _ := q.Leader()
	fn(q.IsLeader(), id)
}

func (q *leaderQuorum) setLeader(leader bool) {
	q.mu.Lock()
	q.leader = leader
	ls := q.listeners
	q.mu.Unlock()
	for _, fn := range ls {
		id, _ := q.Leader()
		fn(leader, id)
	}
}

func (q *leaderQuorum) setFail(err error) {
	q.mu.Lock()
	q.fail = err
	q.mu.Unlock()
}

// hookEvents records activation hooks as "+" and deactivation hooks as "-".
type hookEvents chan string

func watchHooks(c *Controller) hookEvents {
	ev := make(hookEvents, 16)
	c.OnDeactivate(func() { ev <- "-" })
	c.OnActivate(func() { ev <- "+" })
	return ev
}

func (ev hookEvents) want(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-ev:
		if got != want {
			t.Fatalf("hook %q ran, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("hook %q did not run", want)
	}
}

func TestControllerFollowsQuorumLeadership(t *testing.T) {
	cfg := testConfig(t, nil)
	q := &leaderQuorum{failed: make(chan struct{}, 1)}
	cfg.NewQuorum = func(sm StateMachine) (Quorum, error) { q.sm = sm; return q, nil }
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := watchHooks(c)
	ctx := context.Background()

	// A follower: no cluster ID of its own, refuses operations, knows the
	// leader.
	wantEq(t, c.IsActive(), false)
	wantEq(t, c.Image().ClusterID, "")
	wantKerr(t, c.CreateTopics(ctx, []CreateTopic{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}}, false)[0].Err, kerr.NotController)
	wantKerr(t, c.DeleteTopics(ctx, []TopicRef{{Name: "t"}})[0].Err, kerr.NotController)
	wantKerr(t, c.CreatePartitions(ctx, []CreatePartitions{{Topic: "t", Count: 2}}, false)[0].Err, kerr.NotController)
	wantKerr(t, setRetention(ctx, c, "1"), kerr.NotController)
	wantKerr(t, c.AddObserver(ctx, 3, "x:1"), kerr.NotController)
	id, ok := c.ActiveController()
	wantEq(t, id, int32(7))
	wantEq(t, ok, true)
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = c.WaitForClusterID(short)
	wantKerr(t, err, kerr.RequestTimedOut)

	// Elected, but the cluster ID commit fails at first: it is retried.
	q.setFail(errors.New("no majority yet"))
	q.setLeader(true)
	<-q.failed
	wantEq(t, c.IsActive(), false)
	q.setFail(nil)
	ev.want(t, "+")
	clusterID, err := c.WaitForClusterID(ctx)
	if err != nil || clusterID == "" {
		t.Fatalf("WaitForClusterID: %q, %v", clusterID, err)
	}
	waitUntil(t, time.Second, c.IsActive)
	mustSetRetention(t, c, "1")
	offset := c.Image().Offset

	// Leadership lost: operations refused at once, then the hooks.
	q.setLeader(false)
	wantEq(t, c.IsActive(), false)
	wantKerr(t, setRetention(ctx, c, "2"), kerr.NotController)
	ev.want(t, "-")

	// Elected again: the cluster ID is not committed twice.
	q.setLeader(true)
	ev.want(t, "+")
	waitUntil(t, time.Second, c.IsActive)
	wantEq(t, c.Image().Offset, offset)
	wantEq(t, c.Image().ClusterID, clusterID)

	// Close deactivates.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ev.want(t, "-")
	wantEq(t, c.IsActive(), false)
}

func TestLocalQuorumControllerIsActiveAtOpen(t *testing.T) {
	c := testController(t, t.TempDir(), nil)
	wantEq(t, c.IsActive(), true)
	id, ok := c.ActiveController()
	wantEq(t, id, int32(1))
	wantEq(t, ok, true)
	ev := watchHooks(c) // registered while active: runs soon after
	ev.want(t, "+")
	info, err := c.DescribeQuorum()
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, info.LeaderID, int32(1))
	wantEq(t, info.HighWatermark, c.Image().Offset+1)
	wantEq(t, len(info.Voters), 1)
	wantKerr(t, c.AddObserver(context.Background(), 2, "x:1"), kerr.InvalidRequest)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ev.want(t, "-")
	_, ok = c.ActiveController()
	wantEq(t, ok, false)
}

func TestWaitForOffset(t *testing.T) {
	c, _ := memoryController(t, nil)
	ctx := context.Background()
	next := c.Image().Offset + 1
	done := make(chan error, 1)
	go func() { done <- c.WaitForOffset(ctx, next) }()
	mustSetRetention(t, c, "1")
	if err := <-done; err != nil {
		t.Fatalf("WaitForOffset: %v", err)
	}
	if err := c.WaitForOffset(ctx, next); err != nil { // already there
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	wantKerr(t, c.WaitForOffset(short, next+5), kerr.RequestTimedOut)

	go func() { done <- c.WaitForOffset(ctx, next+5) }()
	c.Close()
	wantKerr(t, <-done, kerr.NotController)
}
