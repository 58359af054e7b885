package group

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/replica"
)

// shardStatus is where a shard is in its life.
type shardStatus int8

const (
	// shardLoading: the partition's log is being replayed.
	shardLoading shardStatus = iota
	// shardActive: groups are served.
	shardActive
	// shardFailed: the load failed; requests get NOT_COORDINATOR until a
	// new election.
	shardFailed
	// shardDropped: resigned or closed; nothing is served or scheduled.
	shardDropped
)

// errShardDropped completes the writes still in flight when a shard is
// dropped; it maps to NOT_COORDINATOR.
var errShardDropped = errors.New("group coordinator no longer leads the partition")

// shard is the coordinator's state for one __consumer_offsets partition it
// leads, at one leader epoch (Kafka's per-partition coordinator context).
type shard struct {
	c         *Coordinator
	partition int32
	epoch     int32
	logger    *slog.Logger
	// ctx ends when the shard is dropped: it cancels the load and the
	// writes waiting for replication.
	ctx    context.Context
	cancel context.CancelFunc
	// loaded is closed when the load has ended, however it ended.
	loaded chan struct{}

	mu     sync.Mutex
	status shardStatus
	// part is the replica partition, set by the load.
	part   *replica.Partition
	groups map[string]*group
	// writes are the appended batches not yet answered, in log order.
	writes    []*pendingWrite
	retention timer
}

func newShard(c *Coordinator, partition, epoch int32) *shard {
	ctx, cancel := context.WithCancel(context.Background())
	return &shard{
		c:         c,
		partition: partition,
		epoch:     epoch,
		logger:    c.logger.With(slog.Int("partition", int(partition)), slog.Int("leader_epoch", int(epoch))),
		ctx:       ctx,
		cancel:    cancel,
		loaded:    make(chan struct{}),
		status:    shardLoading,
		groups:    make(map[string]*group),
	}
}

func (s *shard) now() time.Time { return s.c.clock.Now() }

// failed reports whether the shard's load failed.
func (s *shard) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status == shardFailed
}

// currentLocked reports whether g is still the live group of an active
// shard: timers and write completions that outlive a change check it first.
func (s *shard) currentLocked(g *group) bool {
	return s.status == shardActive && s.groups[g.id] == g
}

// drop ends the shard (resignation, a newer epoch, Close): loads and
// replication waits are cancelled, every timer is stopped, parked JoinGroup
// and SyncGroup requests are answered NOT_COORDINATOR (Kafka's
// onGroupUnloaded) and writes in flight are completed with an error that
// maps to NOT_COORDINATOR. It does not block.
func (s *shard) drop(reason string) {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == shardDropped {
		return
	}
	s.status = shardDropped
	stopTimer(s.retention)
	for _, g := range s.groups {
		s.unloadGroupLocked(g)
	}
	s.groups = make(map[string]*group)
	writes := s.writes
	s.writes = nil
	for _, w := range writes {
		w.complete(-1, errShardDropped)
	}
	s.logger.Info("unloaded group coordinator partition", slog.String("reason", reason))
}

// unloadGroupLocked stops g's timers and answers its parked requests with
// NOT_COORDINATOR.
func (s *shard) unloadGroupLocked(g *group) {
	stopTimer(g.joinTimer)
	stopTimer(g.syncTimer)
	for _, p := range g.pending {
		stopTimer(p)
	}
	for _, m := range g.members {
		stopTimer(m.session)
		g.completeJoin(m, joinError(m.id, kerr.NotCoordinator.Code))
		g.completeSync(m, syncResult{errCode: kerr.NotCoordinator.Code})
	}
	g.stopConsumerTimers()
	g.state = stateDead
}

// afterFuncLocked schedules f to run under s.mu after d, unless the shard
// has been dropped by then. It schedules nothing on a shard that is no
// longer active.
func (s *shard) afterFuncLocked(d time.Duration, f func()) timer {
	if s.status != shardActive {
		return nil
	}
	return s.c.afterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != shardActive {
			return
		}
		f()
	})
}

// scheduleSessionLocked (re)arms m's session timer (Kafka's
// completeAndScheduleNextHeartbeatExpiration): when it fires before the
// next heartbeat, the member is expired.
func (s *shard) scheduleSessionLocked(g *group, m *member, d time.Duration) {
	stopTimer(m.session)
	m.sessionSeq++
	seq := m.sessionSeq
	m.session = s.afterFuncLocked(d, func() {
		if !s.currentLocked(g) || g.members[m.id] != m || m.sessionSeq != seq {
			return
		}
		m.session = nil
		s.expireSessionLocked(g, m)
	})
}

// setJoinTimerLocked replaces g's join timer (the delayed join of a
// rebalance) with one that runs f after d.
func (s *shard) setJoinTimerLocked(g *group, d time.Duration, f func()) {
	stopTimer(g.joinTimer)
	g.joinSeq++
	seq := g.joinSeq
	g.joinTimer = s.afterFuncLocked(d, func() {
		if !s.currentLocked(g) || g.joinSeq != seq {
			return
		}
		g.joinTimer = nil
		f()
	})
}

func (s *shard) stopJoinTimerLocked(g *group) {
	stopTimer(g.joinTimer)
	g.joinTimer = nil
	g.joinSeq++
}

// setSyncTimerLocked replaces g's pending-sync timer.
func (s *shard) setSyncTimerLocked(g *group, d time.Duration, f func()) {
	stopTimer(g.syncTimer)
	g.syncSeq++
	seq := g.syncSeq
	g.syncTimer = s.afterFuncLocked(d, func() {
		if !s.currentLocked(g) || g.syncSeq != seq {
			return
		}
		g.syncTimer = nil
		f()
	})
}

func (s *shard) stopSyncTimerLocked(g *group) {
	stopTimer(g.syncTimer)
	g.syncTimer = nil
	g.syncSeq++
}
