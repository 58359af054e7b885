package controller

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// IsLeader reports whether this node leads the quorum and, in this term,
// has applied every entry committed before it (a raft barrier), so its image
// is the latest committed state: only then is it the active controller.
func (q *RaftQuorum) IsLeader() bool {
	term := q.readyTerm.Load()
	return term != 0 && q.raft.State() == raft.Leader && q.raft.CurrentTerm() == term
}

// Leader returns the leader as far as this node knows. This node names
// itself only once it is ready to act (IsLeader).
func (q *RaftQuorum) Leader() (int32, bool) {
	_, sid := q.raft.LeaderWithID()
	if sid == "" {
		return -1, false
	}
	id, ok := parseRaftServerID(sid)
	if !ok || (id == q.nodeID && !q.IsLeader()) {
		return -1, false
	}
	return id, true
}

// OnLeaderChange calls fn from the quorum's watcher goroutine: first with
// the current state, then after every change, in order. fn must return
// promptly and must not call Propose (the watcher is what makes a new leader
// ready). Registrations after Close are never called.
func (q *RaftQuorum) OnLeaderChange(fn func(isLeader bool, leaderID int32)) {
	q.mu.Lock()
	q.listeners = append(q.listeners, &leaderListener{fn: fn})
	q.mu.Unlock()
	select {
	case q.listenerAdded <- struct{}{}:
	default:
	}
}

// watchLeadership is the quorum's one goroutine (Close stops it). It wakes
// on raft's leader and state observations, makes a new leader ready by
// waiting for a barrier (every earlier entry applied), and tells listeners
// about changes. Observations may be dropped when the channel is full; each
// wake-up reads raft's current state, so a dropped one is never missed.
func (q *RaftQuorum) watchLeadership() {
	defer close(q.watcherDone)
	var retry *time.Timer
	var retryC <-chan time.Time
	logged := leaderState{leaderID: -1}
	for {
		if q.catchUpAsLeader() {
			if retry == nil {
				retry = time.NewTimer(barrierRetry)
			} else {
				retry.Reset(barrierRetry)
			}
			retryC = retry.C
		}
		st := q.leaderState()
		if st != logged {
			q.logLeaderChange(logged, st)
			logged = st
		}
		q.deliverLeaderState(st)
		select {
		case <-q.stop:
			if retry != nil {
				retry.Stop()
			}
			return
		case <-q.observations:
		case <-q.listenerAdded:
		case <-retryC:
			retryC = nil
		}
	}
}

// catchUpAsLeader makes a leader that is not ready yet wait until every entry
// committed before its term is applied, then marks it ready for the term. It
// reports whether to try again later (the barrier failed while this node
// still leads).
func (q *RaftQuorum) catchUpAsLeader() (retry bool) {
	term := q.raft.CurrentTerm()
	if q.raft.State() != raft.Leader || q.readyTerm.Load() == term {
		return false
	}
	err := q.awaitUnlessClosed(q.raft.Barrier(0))
	// Ready only if this node led throughout: same term and still leader
	// (a leader never regains leadership within one term).
	stillLeader := q.raft.State() == raft.Leader && q.raft.CurrentTerm() == term
	if err != nil {
		if stillLeader {
			q.logger.Warn("new metadata leader could not catch up with its log; retrying", slog.Any("err", err))
			return true
		}
		return false
	}
	if !stillLeader {
		return false
	}
	if q.single {
		// The election is won; the tiny start-up timeouts would now only
		// make heartbeats to observers needlessly frequent.
		q.raiseTimeouts()
	}
	q.readyTerm.Store(term)
	return false
}

// raiseTimeouts gives a single voter the cluster heartbeat and election
// timeouts once it leads.
func (q *RaftQuorum) raiseTimeouts() {
	rc := q.raft.ReloadableConfig()
	if rc.HeartbeatTimeout >= clusterHeartbeatTimeout {
		return
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout = clusterHeartbeatTimeout, clusterElectionTimeout
	if err := q.raft.ReloadConfig(rc); err != nil {
		q.logger.Warn("raise metadata quorum timeouts", slog.Any("err", err))
	}
}

func (q *RaftQuorum) leaderState() leaderState {
	id, ok := q.Leader()
	if !ok {
		id = -1
	}
	return leaderState{isLeader: q.IsLeader(), leaderID: id}
}

func (q *RaftQuorum) logLeaderChange(old, st leaderState) {
	term := slog.Uint64("term", q.raft.CurrentTerm())
	switch {
	case st.isLeader:
		q.logger.Info("this node leads the metadata quorum", term)
	case old.isLeader:
		level := slog.LevelWarn
		if q.quiet.Load() {
			level = slog.LevelInfo // closing: expected
		}
		q.logger.Log(context.Background(), level, "this node no longer leads the metadata quorum", slog.Int("leader", int(st.leaderID)), term)
	case st.leaderID >= 0:
		q.logger.Info("metadata quorum leader elected", slog.Int("leader", int(st.leaderID)), term)
	case old.leaderID >= 0:
		q.logger.Warn("metadata quorum leader lost", slog.Int("old_leader", int(old.leaderID)), term)
	}
}

// deliverLeaderState calls every listener that has not seen st yet.
func (q *RaftQuorum) deliverLeaderState(st leaderState) {
	q.mu.Lock()
	ls := slices.Clone(q.listeners)
	q.mu.Unlock()
	for _, l := range ls {
		if l.delivered && l.last == st {
			continue
		}
		l.delivered, l.last = true, st
		l.fn(st.isLeader, st.leaderID)
	}
}

// Describe returns the quorum as this node sees it. hashicorp/raft does not
// expose the leader's per-follower progress, so only this node's own entry
// carries an offset (its applied offset + 1) and, on the leader, timestamps
// (now, as Kafka reports the leader itself); every other replica's offsets
// and timestamps are -1, "unknown" in DescribeQuorum.
func (q *RaftQuorum) Describe() QuorumInfo {
	leader, ok := q.Leader()
	if !ok {
		leader = -1
	}
	info := QuorumInfo{
		LeaderID:      leader,
		LeaderEpoch:   int32(q.raft.CurrentTerm()),
		HighWatermark: q.fsm.offset.Load() + 1,
	}
	var servers []raft.Server
	if f := q.raft.GetConfiguration(); f.Error() == nil {
		servers = f.Configuration().Servers
	}
	now := time.Now().UnixMilli()
	isLeader := q.IsLeader()
	for _, s := range servers {
		id, ok := parseRaftServerID(s.ID)
		if !ok {
			continue
		}
		rs := ReplicaState{ID: id, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}
		if id == q.nodeID {
			rs.LogEndOffset = info.HighWatermark
			if isLeader {
				rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = now, now
			}
		}
		if s.Suffrage == raft.Voter {
			info.Voters = append(info.Voters, rs)
		} else {
			info.Observers = append(info.Observers, rs)
		}
	}
	return info
}

// awaitUnlessClosed waits for f, or returns ErrQuorumClosed once Close has
// begun. hashicorp/raft does not answer a future still queued when it shuts
// down, so waiting on it alone could hold Close up for ever; the goroutine
// left waiting then ends with the process.
func (q *RaftQuorum) awaitUnlessClosed(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-q.stop:
		return ErrQuorumClosed
	}
}
