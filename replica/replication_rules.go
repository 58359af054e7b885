package replica

import (
	"slices"
	"time"

	plog "github.com/samsa-broker/samsa/log"
)

// This file holds the replication decisions as plain functions of state and
// time (design.md): what a follower's fetch tells the leader, the high
// watermark, who leaves or joins the ISR, and where a diverging follower
// truncates. The goroutines and locks around them live elsewhere.

// FollowerState is what a leader knows of one follower from its fetches
// (Kafka's ReplicaState). The zero LogEndOffset is a real offset, so an
// unknown one is -1 (UnknownOffset), as right after this node became leader.
type FollowerState struct {
	// LogEndOffset is the follower's fetch offset, i.e. its LEO; -1 unknown.
	LogEndOffset int64
	// BrokerEpoch is the broker epoch the follower sent (KIP-903); -1
	// unknown or not sent.
	BrokerEpoch int64
	// LastFetchTime is when its last fetch arrived.
	LastFetchTime time.Time
	// LastFetchLeaderLEO is the leader's LEO when that fetch arrived.
	LastFetchLeaderLEO int64
	// LastCaughtUpTime is the last time the follower had everything the
	// leader had at that time.
	LastCaughtUpTime time.Time
}

// newFollowerState is a follower nothing is known about yet: Kafka's
// resetReplicaState for a new leader. A follower the controller lists in
// the ISR counts as caught up now, so it gets replica.lag.time.max.ms to
// fetch before it is removed; one outside gets the zero time, so it does
// not hold the high watermark back.
func newFollowerState(inISR bool, now time.Time) FollowerState {
	f := FollowerState{LogEndOffset: -1, BrokerEpoch: -1, LastFetchLeaderLEO: -1}
	if inISR {
		f.LastCaughtUpTime = now
	}
	return f
}

// AfterFetch returns the state after a fetch at fetchOffset that arrived at
// now while the leader's LEO was leaderLEO (Kafka's
// Replica.updateFetchStateOrThrow): the follower was caught up at now if it
// asked for the leader's LEO, or else at the previous fetch if it asked for
// at least the LEO the leader had then. The second rule lets a follower be in
// sync although steady small produces keep its fetch offset just below the
// leader's LEO.
func (f FollowerState) AfterFetch(fetchOffset, leaderLEO, brokerEpoch int64, now time.Time) FollowerState {
	caughtUp := f.LastCaughtUpTime
	switch {
	case fetchOffset >= leaderLEO:
		caughtUp = later(caughtUp, now)
	case f.LastFetchLeaderLEO >= 0 && fetchOffset >= f.LastFetchLeaderLEO:
		caughtUp = later(caughtUp, f.LastFetchTime)
	}
	return FollowerState{
		LogEndOffset:       fetchOffset,
		BrokerEpoch:        brokerEpoch,
		LastFetchTime:      now,
		LastFetchLeaderLEO: max(leaderLEO, f.LastFetchLeaderLEO),
		LastCaughtUpTime:   caughtUp,
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// CaughtUp reports whether the follower is in sync (Kafka's
// ReplicaState.isCaughtUp): it has the leader's LEO, or it had everything
// within the last lagMax.
func (f FollowerState) CaughtUp(leaderLEO int64, now time.Time, lagMax time.Duration) bool {
	return f.LogEndOffset == leaderLEO || now.Sub(f.LastCaughtUpTime) <= lagMax
}

// HighWatermarkInput is what a leader's high watermark depends on.
type HighWatermarkInput struct {
	LeaderID  int32
	LeaderLEO int64
	// ISR is the committed ISR; MaximalISR adds a proposed addition the
	// controller has not committed yet (KIP-497).
	ISR, MaximalISR []int32
	Followers       map[int32]FollowerState
	EffectiveMinISR int
	Now             time.Time
	LagMax          time.Duration
	// Eligible reports whether a replica may join the ISR; nil means all.
	Eligible func(id int32) bool
}

// HighWatermark computes a leader's high watermark as Kafka's
// Partition.maybeIncrementLeaderHW does: the lowest LEO among the leader,
// the members of the maximal ISR, and the followers outside it that are
// caught up and eligible to join (so that a follower about to join is not
// left behind forever); never below current, and frozen at current while
// the committed ISR is below the effective minimum ISR (Kafka 3.7+, KIP-966
// groundwork). A maximal-ISR member whose LEO is unknown holds the HW.
func HighWatermark(current int64, in HighWatermarkInput) int64 {
	if len(in.ISR) < in.EffectiveMinISR {
		return current
	}
	hw := in.LeaderLEO
	for _, id := range in.MaximalISR {
		if id == in.LeaderID {
			continue
		}
		f, ok := in.Followers[id]
		if !ok || f.LogEndOffset < 0 {
			return current
		}
		hw = min(hw, f.LogEndOffset)
	}
	for id, f := range in.Followers {
		if id == in.LeaderID || slices.Contains(in.MaximalISR, id) || f.LogEndOffset < 0 {
			continue
		}
		if f.CaughtUp(in.LeaderLEO, in.Now, in.LagMax) && (in.Eligible == nil || in.Eligible(id)) {
			hw = min(hw, f.LogEndOffset)
		}
	}
	return max(current, hw)
}

// EffectiveMinISR is min(min.insync.replicas, replication factor), as Kafka
// 3.7+ computes it (KAFKA-15583): an RF=1 topic still takes acks=all writes
// whatever min.insync.replicas says.
func EffectiveMinISR(minInsync int32, replicas int) int {
	return max(1, min(int(minInsync), replicas))
}

// ISRChanges decides who leaves and who joins the ISR of a partition this
// node leads, following semantics.md:
//   - shrink: an ISR follower that is not caught up (CaughtUp with lagMax,
//     replica.lag.time.max.ms), or that the leader has no state for;
//   - expand: a replica outside the ISR whose LEO has reached the high
//     watermark and the start offset of the current leader epoch
//     (Kafka's isFollowerInSync; the second condition keeps a replica out
//     that could become leader without the committed records the new
//     leader appended before its HW caught up).
//
// Broker eligibility (fenced, shutting down, stale broker epoch) is the
// caller's: it filters expand.
func ISRChanges(st State, leaderEpochStart int64, followers map[int32]FollowerState, leaderLEO, hw int64, now time.Time, lagMax time.Duration) (shrink, expand []int32) {
	for _, id := range st.ISR {
		if id == st.Leader {
			continue
		}
		f, ok := followers[id]
		if !ok || !f.CaughtUp(leaderLEO, now, lagMax) {
			shrink = append(shrink, id)
		}
	}
	for _, id := range st.Replicas {
		if id == st.Leader || slices.Contains(st.ISR, id) {
			continue
		}
		f, ok := followers[id]
		if ok && f.LogEndOffset >= 0 && f.LogEndOffset >= hw && f.LogEndOffset >= leaderEpochStart {
			expand = append(expand, id)
		}
	}
	return shrink, expand
}

// EpochEndOffset is a leader epoch and the offset where it ends: the
// DivergingEpoch of a Fetch response (KIP-320).
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// DivergingEpoch decides whether a follower's log diverges from the
// leader's (Kafka's Partition.readRecords with a last fetched epoch), given
// (found, end): the largest epoch <= lastFetchedEpoch in the leader's cache
// and the offset where it ends. The follower
// diverges if the leader only knows an older epoch or the epoch ends before
// the follower's fetch offset.
func DivergingEpoch(lastFetchedEpoch int32, fetchOffset int64, found int32, end int64) (EpochEndOffset, bool) {
	if found < lastFetchedEpoch || end < fetchOffset {
		return EpochEndOffset{Epoch: found, EndOffset: end}, true
	}
	return EpochEndOffset{}, false
}

// TruncationOffset is where a follower truncates when the leader answered
// DivergingEpoch{leader} (Kafka's AbstractFetcherThread
// getOffsetTruncationState): the follower looks up the largest epoch <= the
// leader's in its own cache (localEpoch, localEnd). If the epochs agree, the
// logs agree up to the smaller end offset; if they do not, the follower
// truncates to where its own epoch ends and the next fetch, carrying an
// older last fetched epoch, finds the exact point. A follower without any
// such epoch truncates to the leader's end. Never above the local LEO.
func TruncationOffset(leader EpochEndOffset, localEpoch int32, localEnd, localLEO int64) int64 {
	switch {
	case localEpoch < 0 || localEnd < 0:
		return min(leader.EndOffset, localLEO)
	case localEpoch != leader.Epoch:
		return min(localEnd, localLEO)
	default:
		return min(localEnd, leader.EndOffset, localLEO)
	}
}

// localTruncationOffset applies TruncationOffset to a follower's log.
func localTruncationOffset(l *plog.Log, leader EpochEndOffset) int64 {
	leo := l.LogEndOffset()
	localEpoch, localEnd := l.LeaderEpochCache().EndOffsetFor(leader.Epoch, leo)
	return TruncationOffset(leader, localEpoch, localEnd, leo)
}
