package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file runs kgo consumer groups against samsa: members joining,
// leaving and dying under each balancer, and committed offsets surviving a
// restart. Group members commit what they processed synchronously before
// they let a rebalance proceed (kgo.BlockRebalanceOnPoll), so every record
// must be processed exactly once however the partitions move.

// groupArgs are the node settings of group tests: no initial rebalance
// delay (Kafka's quickstart value), sessions as short as half a second
// allowed, and few __consumer_offsets partitions to keep start-up cheap.
var groupArgs = []string{
	"group.initial.rebalance.delay.ms=0",
	"group.min.session.timeout.ms=500",
	"offsets.topic.num.partitions=4",
}

// collector records which member processed which record value.
type collector struct {
	mu   sync.Mutex
	by   map[string][]string // value -> members that processed it
	n    int
	grew chan struct{} // closed and replaced at every add
}

func newCollector() *collector {
	return &collector{by: map[string][]string{}, grew: make(chan struct{})}
}

func (c *collector) add(member string, recs []*kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		c.by[string(r.Value)] = append(c.by[string(r.Value)], member)
		c.n++
	}
	close(c.grew)
	c.grew = make(chan struct{})
}

// count is how many records were processed in total.
func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitFor blocks until n records were processed in total.
func (c *collector) waitFor(t testing.TB, n int, within time.Duration, members ...*groupMember) {
	t.Helper()
	deadline := time.After(within)
	for {
		c.mu.Lock()
		got, grew := c.n, c.grew
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-grew:
		case <-deadline:
			var errs []string
			for _, m := range members {
				errs = append(errs, fmt.Sprintf("%s: %v", m.name, m.errors()))
			}
			t.Fatalf("processed %d records within %v, want %d; member errors: %v", got, within, n, errs)
		}
	}
}

// processedBy returns the values a member processed.
func (c *collector) processedBy(member string) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for v, ms := range c.by {
		if slices.Contains(ms, member) {
			out[v] = true
		}
	}
	return out
}

// values returns every processed value once.
func (c *collector) values() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.by))
	for v := range c.by {
		out[v] = true
	}
	return out
}

// exactlyOnce fails unless every value in want was processed exactly once
// and nothing else was.
func (c *collector) exactlyOnce(t testing.TB, want []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range want {
		switch ms := c.by[v]; len(ms) {
		case 0:
			t.Errorf("record %q never processed", v)
		case 1:
		default:
			t.Errorf("record %q processed %d times, by %v", v, len(ms), ms)
		}
	}
	if len(c.by) != len(want) {
		t.Errorf("processed %d distinct records, want %d", len(c.by), len(want))
	}
}

// groupMember is a kgo group consumer processing records into a collector.
type groupMember struct {
	name string
	cl   *kgo.Client
	// stopAt ends the processing loop once the collector holds this many
	// records (0: never).
	stopAt int
	// stop ends the processing loop; done is closed when it has ended.
	stop context.CancelFunc
	done chan struct{}
	// dead cuts the member off the network: no dial succeeds and the
	// connections it had are closed (a crashed process, to the broker).
	dead      atomic.Bool
	cancelCl  context.CancelFunc
	closeOnce sync.Once

	mu    sync.Mutex
	conns []net.Conn
	errs  []error
}

// memberOpts are the consumer settings of group tests: sessions of 2 s so
// a dead member is noticed quickly, and manual synchronous commits.
func memberOpts(group, topic string, balancer kgo.GroupBalancer) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(2 * time.Second),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(300 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	}
}

// startMember starts a member that polls at most maxPoll records at a time
// (0: whatever is buffered).
func startMember(t testing.TB, seeds []string, name string, c *collector, maxPoll int, opts ...kgo.Opt) *groupMember {
	t.Helper()
	return startMemberUntil(t, seeds, name, c, maxPoll, 0, opts...)
}

// startMemberUntil is startMember for a member that stops polling once the
// collector holds stopAt records (0: never), so a test can leave a known
// part of a topic unread.
func startMemberUntil(t testing.TB, seeds []string, name string, c *collector, maxPoll, stopAt int, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{name: name, done: make(chan struct{}), stopAt: stopAt}
	clCtx, cancelCl := context.WithCancel(context.Background())
	m.cancelCl = cancelCl
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		if m.dead.Load() {
			return nil, errors.New("member killed")
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, host)
		if err == nil {
			m.mu.Lock()
			m.conns = append(m.conns, conn)
			m.mu.Unlock()
		}
		return conn, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.Dialer(dial), kgo.WithContext(clCtx), kgo.ClientID(name)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	m.cl = cl
	ctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	go m.run(ctx, c, maxPoll)
	t.Cleanup(func() {
		m.stop()
		<-m.done
		m.close()
	})
	return m
}

// run polls, hands the records to the collector, commits them and only
// then lets a pending rebalance go on.
func (m *groupMember) run(ctx context.Context, c *collector, maxPoll int) {
	defer close(m.done)
	for {
		fs := m.cl.PollRecords(ctx, maxPoll)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				m.addErr(fmt.Errorf("fetch %s-%d: %w", topic, p, err))
			}
		})
		if recs := fs.Records(); len(recs) > 0 {
			c.add(m.name, recs)
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := m.cl.CommitRecords(cctx, recs...); err != nil {
				m.addErr(fmt.Errorf("commit: %w", err))
			}
			cancel()
		}
		m.cl.AllowRebalance()
		if ctx.Err() != nil || m.stopAt > 0 && c.count() >= m.stopAt {
			return
		}
	}
}

func (m *groupMember) addErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err)
}

func (m *groupMember) errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

func (m *groupMember) close() { m.closeOnce.Do(m.cl.Close) }

// leave stops processing (the last batch is committed) and closes the
// client, which leaves the group.
func (m *groupMember) leave() {
	m.stop()
	<-m.done
	m.close()
}

// kill stops processing (the last batch is committed) and cuts the member
// off without a LeaveGroup, so the coordinator must notice it by its
// session timing out.
func (m *groupMember) kill() {
	m.stop()
	<-m.done
	m.dead.Store(true)
	m.cancelCl()
	m.mu.Lock()
	for _, c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.close()
}

// waitGroup waits until the group is Stable with exactly n members, each
// holding an assignment.
func waitGroup(t testing.TB, adm *kadm.Client, group string, n int, within time.Duration) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(within)
	var last kadm.DescribedGroup
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		described, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			last = described[group]
			if last.Err == nil && last.State == "Stable" && len(last.Members) == n {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not Stable with %d members within %v: state %q, %d members, err %v %v", group, n, within, last.State, len(last.Members), err, last.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeGroup describes one group and fails on any error.
func describeGroup(t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil || described[group].Err != nil {
		t.Fatalf("describe group %s: %v %v", group, err, described[group].Err)
	}
	return described[group]
}

// values lists prefix-0 .. prefix-(n-1), as produceSync writes them.
func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// committedOffsetSum fetches group's committed offsets, retrying until the
// coordinator serves them (a restarted one loads them first; the test fails
// if that takes longer than within), and returns their sum: with one
// record per offset, the number of records the group processed.
func committedOffsetSum(t testing.TB, adm *kadm.Client, group string, within time.Duration) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil && offs.Error() == nil {
			var committed int64
			offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
			return committed
		}
		if ctx.Err() != nil {
			t.Fatalf("fetch offsets after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumePartThenLeave has a member "first" process at least n records
// within the time given, ten at a time, committing each batch, and leave
// the group; it returns the records it processed.
func consumePartThenLeave(t testing.TB, seeds []string, n int, within time.Duration, opts ...kgo.Opt) map[string]bool {
	t.Helper()
	first := newCollector()
	m := startMemberUntil(t, seeds, "first", first, 10, n, opts...)
	first.waitFor(t, n, within, m)
	m.leave()
	if errs := m.errors(); len(errs) > 0 {
		t.Fatalf("first member: %v", errs)
	}
	return first.values()
}

// resumeFromCommitted has a new member "second" read the rest of the total
// records prefix-0 .. prefix-(total-1) within the time given, and checks it
// resumed exactly at the committed offsets (when says after what): none of
// done read again, none skipped. It returns the records it read.
func resumeFromCommitted(t testing.TB, seeds []string, prefix string, total int, done map[string]bool, within time.Duration, when string, opts ...kgo.Opt) map[string]bool {
	t.Helper()
	second := newCollector()
	m := startMember(t, seeds, "second", second, 0, opts...)
	second.waitFor(t, total-len(done), within, m)
	m.leave()
	again := second.values()
	for v := range again {
		if done[v] {
			t.Errorf("record %q read again %s although its offset was committed", v, when)
		}
	}
	for _, v := range values(prefix, total) {
		if !done[v] && !again[v] {
			t.Errorf("record %q skipped", v)
		}
	}
	return again
}

func TestGroupMembersJoinLeaveAndDieEveryRecordOnce(t *testing.T) {
	tn := startNode(t, groupArgs...)
	adm := tn.admin()
	prod := tn.client()
	const perPhase = 120
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			topic, group := "members-"+bal.name, "group-"+bal.name
			createTopic(t, adm, topic, 6, nil)
			c := newCollector()
			seeds := []string{tn.addr()}
			opts := memberOpts(group, topic, bal.b)

			produceSync(t, prod, topic, "join", perPhase)
			a := startMember(t, seeds, "a", c, 0, opts...)
			b := startMember(t, seeds, "b", c, 0, opts...)
			c.waitFor(t, perPhase, 30*time.Second, a, b)

			// A third member joins; once it holds partitions, it
			// processes its share of new records.
			third := startMember(t, seeds, "c", c, 0, opts...)
			waitGroup(t, adm, group, 3, 30*time.Second)
			produceSync(t, prod, topic, "three", perPhase)
			c.waitFor(t, 2*perPhase, 30*time.Second, a, b, third)

			// b leaves cleanly.
			b.leave()
			waitGroup(t, adm, group, 2, 30*time.Second)
			produceSync(t, prod, topic, "left", perPhase)
			c.waitFor(t, 3*perPhase, 30*time.Second, a, third)

			// c dies: only its session timing out frees its partitions,
			// and a takes over everything.
			third.kill()
			// No LeaveGroup reached the coordinator: c is still a member
			// until its session times out.
			if d := describeGroup(t, adm, group); !slices.ContainsFunc(d.Members, func(m kadm.DescribedGroupMember) bool { return m.ClientID == "c" }) {
				t.Fatalf("c left the group when killed: members %+v", d.Members)
			}
			produceSync(t, prod, topic, "died", perPhase)
			c.waitFor(t, 4*perPhase, 30*time.Second, a)

			var want []string
			for _, phase := range []string{"join", "three", "left", "died"} {
				want = append(want, values(phase, perPhase)...)
			}
			c.exactlyOnce(t, want)
			byA := c.processedBy("a")
			for _, v := range values("died", perPhase) {
				if !byA[v] {
					t.Fatalf("record %q written after c died was not processed by a, the only member left", v)
				}
			}
			if byC := c.processedBy("c"); !slices.ContainsFunc(values("three", perPhase), func(v string) bool { return byC[v] }) {
				t.Errorf("c processed none of the records written while it was a member")
			}
			for _, m := range []*groupMember{a, b, third} {
				if errs := m.errors(); len(errs) > 0 {
					t.Errorf("member %s: %v", m.name, errs)
				}
			}
			a.leave()
		})
	}
}

func TestGroupCommittedOffsetsSurviveRestart(t *testing.T) {
	checkCommitsSurviveRestart(t, "resume", memberOpts, nil)
}

// checkCommitsSurviveRestart has a member of a group configured by opts
// process part of a topic, committing as it goes, restarts the node, and
// checks the committed offsets came back from __consumer_offsets and a new
// member resumes exactly there: nothing read twice, nothing skipped.
// afterRestart, when set, checks the group itself after the restart.
func checkCommitsSurviveRestart(t *testing.T, topic string, groupOpts func(group, topic string, b kgo.GroupBalancer) []kgo.Opt, afterRestart func(tn *testNode, group string)) {
	t.Helper()
	tn := startNode(t, groupArgs...)
	const total = 300
	group := topic + "-group"
	createTopic(t, tn.admin(), topic, 3, nil)
	produceSync(t, tn.client(), topic, "r", total)
	opts := groupOpts(group, topic, kgo.CooperativeStickyBalancer())

	// The first member processes part of the topic, ten records at a time,
	// committing each batch, and leaves.
	done := consumePartThenLeave(t, []string{tn.addr()}, 100, 30*time.Second, opts...)
	if len(done) >= total {
		t.Fatalf("the first member processed all %d records; the test needs a partial run", len(done))
	}

	tn.restart()

	if committed := committedOffsetSum(t, tn.admin(), group, 20*time.Second); committed != int64(len(done)) {
		t.Fatalf("committed offsets after restart sum to %d, want the %d records processed", committed, len(done))
	}
	if afterRestart != nil {
		afterRestart(tn, group)
	}
	again := resumeFromCommitted(t, []string{tn.addr()}, "r", total, done, 30*time.Second, "after the restart", opts...)
	if len(done)+len(again) != total {
		t.Errorf("processed %d + %d records, want %d in total", len(done), len(again), total)
	}
}
