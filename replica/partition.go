package replica

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

// State is a partition's replication metadata as committed by the
// controller: what a delta tells this node about one partition.
type State struct {
	TopicID        [16]byte
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// Config is the effective topic configuration a partition acts on.
type Config struct {
	Log               plog.Config
	MinInsyncReplicas int32
	MaxMessageBytes   int32
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// Compression is the topic's compression.type: "producer" keeps the
	// producer's codec, anything else names the codec batches are stored in.
	Compression string
}

// Partition is one topic-partition hosted on this node.
type Partition struct {
	tp     plog.TopicPartition
	nodeID int32
	log    *plog.Log
	now    func() time.Time
	repl   *replication

	// hw is the high watermark. On a leader it only moves forward; on a
	// follower it follows the leader's (never above the local LEO). It is
	// atomic so readers (fetch, list offsets) never take mu.
	hw atomic.Int64

	watchers watchers

	mu       sync.RWMutex
	state    State
	hasState bool
	cfg      Config
	isLeader bool
	// leaderEpochStart is the log end offset when this node became leader
	// of the current epoch (ListOffsets answers OFFSET_NOT_AVAILABLE until
	// the HW reaches it; a follower joins the ISR only past it).
	leaderEpochStart int64

	// rmu guards the leader's view of its followers and the ISR change in
	// flight. Lock order: mu (read or write) before rmu.
	rmu       sync.Mutex
	followers map[int32]FollowerState
	isr       isrProposals
}

func newPartition(tp plog.TopicPartition, nodeID int32, l *plog.Log, hw int64, now func() time.Time, repl *replication) *Partition {
	p := &Partition{tp: tp, nodeID: nodeID, log: l, now: now, repl: repl}
	hw = min(max(hw, l.LogStartOffset()), l.LogEndOffset())
	p.hw.Store(hw)
	return p
}

// TopicPartition names the partition.
func (p *Partition) TopicPartition() plog.TopicPartition { return p.tp }

// Log is the partition's local log.
func (p *Partition) Log() *plog.Log { return p.log }

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// State returns the partition's replication metadata.
func (p *Partition) State() State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state
}

// Config returns the partition's effective topic configuration.
func (p *Partition) Config() Config {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cfg
}

// IsLeader reports whether this node leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.isLeader
}

// Watch registers w to be woken at every change of the partition's readable
// state. Callers must Unwatch when done.
func (p *Partition) Watch(w *Waiter) { p.watchers.add(w) }

// Unwatch removes w.
func (p *Partition) Unwatch(w *Waiter) { p.watchers.remove(w) }

// roleChange tells the Manager what applyState did to the fetchers.
type roleChange struct {
	// follow is true when the partition follows another broker.
	follow bool
	// restartFetch is true when the fetch state must start afresh: a new
	// leader or leader epoch (Kafka's makeFollower returning true).
	restartFetch bool
}

// applyState installs new metadata and config, as Kafka's
// Partition.makeLeader / makeFollower do. Metadata older than what this
// node already knows (a smaller partition epoch: the AlterPartition answer
// can arrive before the delta) is ignored. Becoming leader of a new epoch
// records the epoch's start offset in the leader-epoch cache and resets the
// followers' state; becoming follower drops it.
func (p *Partition) applyState(st State, cfg Config) (roleChange, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.watchers.wakeAll()
	p.cfg = cfg
	p.log.SetConfig(cfg.Log)
	if p.hasState && st.PartitionEpoch < p.state.PartitionEpoch {
		p.repl.logger.Info("skipped stale partition state", slog.String("partition", p.tp.String()),
			slog.Int("partition_epoch", int(st.PartitionEpoch)), slog.Int("current_partition_epoch", int(p.state.PartitionEpoch)))
		return roleChange{follow: !p.isLeader && p.state.Leader >= 0}, nil
	}
	wasLeader, hadState := p.isLeader, p.hasState
	newEpoch := !hadState || st.LeaderEpoch > p.state.LeaderEpoch
	oldLeader := p.state.Leader
	p.state, p.hasState = st, true
	p.isLeader = st.Leader == p.nodeID
	now := p.now()

	p.rmu.Lock()
	defer p.rmu.Unlock()
	if !p.isLeader {
		p.followers = nil
		p.isr.reset()
		p.leaderEpochStart = 0
		follow := st.Leader >= 0
		return roleChange{follow: follow, restartFetch: follow && (newEpoch || wasLeader || oldLeader != st.Leader)}, nil
	}
	if newEpoch || !wasLeader {
		leo := p.log.LogEndOffset()
		if err := p.log.LeaderEpochCache().Assign(st.LeaderEpoch, leo); err != nil {
			return roleChange{}, fmt.Errorf("become leader of %s at epoch %d: %w", p.tp, st.LeaderEpoch, err)
		}
		p.leaderEpochStart = leo
		p.resetFollowersLocked(!wasLeader, now)
		p.repl.logger.Info("leading partition", slog.String("partition", p.tp.String()),
			slog.Int("leader_epoch", int(st.LeaderEpoch)), slog.Int64("epoch_start_offset", leo),
			slog.Int64("high_watermark", p.hw.Load()), slog.Any("isr", st.ISR))
	}
	p.syncFollowersLocked(now)
	p.isr.committed(p, st)
	p.maybeAdvanceHighWatermarkLocked(now)
	return roleChange{}, nil
}

// resetFollowersLocked is Kafka's resetReplicaState on a leader epoch
// change: a new leader knows nothing of its followers' logs; a re-elected
// one keeps their offsets. Either way ISR members count as caught up now,
// the others as never. Requires mu (write) and rmu.
func (p *Partition) resetFollowersLocked(newLeader bool, now time.Time) {
	old := p.followers
	p.followers = make(map[int32]FollowerState, len(p.state.Replicas))
	for _, id := range p.state.Replicas {
		if id == p.nodeID {
			continue
		}
		inISR := slices.Contains(p.state.ISR, id)
		f := newFollowerState(inISR, now)
		if prev, ok := old[id]; ok && !newLeader {
			f = prev
			f.LastCaughtUpTime = newFollowerState(inISR, now).LastCaughtUpTime
		}
		p.followers[id] = f
	}
}

// syncFollowersLocked follows a change of the assigned replicas: new ones
// start unknown, removed ones are forgotten. Requires mu and rmu.
func (p *Partition) syncFollowersLocked(now time.Time) {
	if p.followers == nil {
		p.followers = make(map[int32]FollowerState)
	}
	for _, id := range p.state.Replicas {
		if _, ok := p.followers[id]; !ok && id != p.nodeID {
			p.followers[id] = newFollowerState(slices.Contains(p.state.ISR, id), now)
		}
	}
	for id := range p.followers {
		if !slices.Contains(p.state.Replicas, id) {
			delete(p.followers, id)
		}
	}
}

func (p *Partition) setConfig(cfg Config) {
	p.mu.Lock()
	p.cfg = cfg
	p.log.SetConfig(cfg.Log)
	p.mu.Unlock()
}

// effectiveMinISRLocked requires mu.
func (p *Partition) effectiveMinISRLocked() int {
	return EffectiveMinISR(p.cfg.MinInsyncReplicas, len(p.state.Replicas))
}

// maybeAdvanceHighWatermarkLocked recomputes a leader's HW and wakes the
// waiters when it moved. Requires mu (read or write) and rmu; since every
// leader-side writer holds rmu, the load-compare-store cannot lose an
// advance.
func (p *Partition) maybeAdvanceHighWatermarkLocked(now time.Time) bool {
	if !p.isLeader {
		return false
	}
	cur := p.hw.Load()
	target := HighWatermark(cur, HighWatermarkInput{
		LeaderID:        p.nodeID,
		LeaderLEO:       p.log.LogEndOffset(),
		ISR:             p.state.ISR,
		MaximalISR:      p.isr.maximal(p.state.ISR),
		Followers:       p.followers,
		EffectiveMinISR: p.effectiveMinISRLocked(),
		Now:             now,
		LagMax:          p.repl.lagMax,
		Eligible:        p.isrEligibleLocked,
	})
	if target <= cur {
		return false
	}
	p.hw.Store(target)
	p.watchers.wakeAll()
	return true
}

// AppendResult is what a leader append reports back to the producer.
type AppendResult = plog.AppendResult

// AppendAsLeader appends one validated batch. requiredAcks -1 is refused
// with NOT_ENOUGH_REPLICAS when the committed ISR is below the effective
// minimum (Kafka's appendRecordsToLeader), and nothing is written.
func (p *Partition) AppendAsLeader(batch []byte, requiredAcks int16) (AppendResult, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return AppendResult{}, fmt.Errorf("%w: %s is not led by node %d", kerr.NotLeaderForPartition, p.tp, p.nodeID)
	}
	if requiredAcks == -1 {
		if need := p.effectiveMinISRLocked(); len(p.state.ISR) < need {
			return AppendResult{}, fmt.Errorf("%w: %s has ISR %v, below the %d required", kerr.NotEnoughReplicas, p.tp, p.state.ISR, need)
		}
	}
	now := p.now()
	res, err := p.log.AppendAsLeader(batch, p.state.LeaderEpoch, p.cfg.LogAppendTime, now)
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", p.tp, err)
	}
	p.rmu.Lock()
	p.maybeAdvanceHighWatermarkLocked(now)
	p.rmu.Unlock()
	// Parked follower and consumer fetches wait for new data too.
	p.watchers.wakeAll()
	return res, nil
}

// WaitCommitted blocks until the high watermark reaches nextOffset (every
// ISR member has the records below it), the deadline passes
// (REQUEST_TIMED_OUT), the node stops leading the epoch the records were
// written in (NOT_LEADER_OR_FOLLOWER), or ctx ends. As Kafka's
// checkEnoughReplicasReachOffset, a batch that became committed while the
// maximal ISR is below the effective minimum is answered
// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func (p *Partition) WaitCommitted(ctx context.Context, nextOffset int64, epoch int32, deadline <-chan time.Time) error {
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		p.mu.RLock()
		leading := p.isLeader && p.state.LeaderEpoch == epoch
		need := p.effectiveMinISRLocked()
		p.rmu.Lock()
		maximal := len(p.isr.maximal(p.state.ISR))
		p.rmu.Unlock()
		p.mu.RUnlock()
		if !leading {
			return fmt.Errorf("%w: %s changed leader while waiting for acks", kerr.NotLeaderForPartition, p.tp)
		}
		if p.hw.Load() >= nextOffset {
			if maximal < need {
				return fmt.Errorf("%w: %s: ISR of %d is below the %d required", kerr.NotEnoughReplicasAfterAppend, p.tp, maximal, need)
			}
			return nil
		}
		select {
		case <-w.C:
		case <-deadline:
			return fmt.Errorf("%w: %s: high watermark %d did not reach %d in time", kerr.RequestTimedOut, p.tp, p.hw.Load(), nextOffset)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CheckLeaderEpoch validates a client's current leader epoch (-1 skips the
// check) as Kafka does for Fetch, ListOffsets and OffsetForLeaderEpoch:
// older is FENCED_LEADER_EPOCH, newer than known is UNKNOWN_LEADER_EPOCH.
func (p *Partition) CheckLeaderEpoch(current int32) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.checkLeaderEpochLocked(current, true)
}

func (p *Partition) checkLeaderEpochLocked(current int32, requireLeader bool) error {
	switch {
	case current >= 0 && current < p.state.LeaderEpoch:
		return fmt.Errorf("%w: %s: epoch %d is older than %d", kerr.FencedLeaderEpoch, p.tp, current, p.state.LeaderEpoch)
	case current > p.state.LeaderEpoch:
		return fmt.Errorf("%w: %s: epoch %d is newer than %d", kerr.UnknownLeaderEpoch, p.tp, current, p.state.LeaderEpoch)
	case requireLeader && !p.isLeader:
		return fmt.Errorf("%w: %s is not led by node %d", kerr.NotLeaderForPartition, p.tp, p.nodeID)
	}
	return nil
}

// ReadResult is one partition's part of a fetch.
type ReadResult struct {
	Batches          []byte
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Read serves a consumer fetch: records below the high watermark (the last
// stable offset equals it until transactions exist). Only the leader serves
// consumers (no fetch-from-follower, KIP-392).
func (p *Partition) Read(offset int64, currentLeaderEpoch int32, maxBytes int, minOneBatch bool) (ReadResult, error) {
	p.mu.RLock()
	err := p.checkLeaderEpochLocked(currentLeaderEpoch, true)
	p.mu.RUnlock()
	if err != nil {
		return ReadResult{}, err
	}
	hw := p.hw.Load()
	res := ReadResult{HighWatermark: hw, LastStableOffset: hw, LogStartOffset: p.log.LogStartOffset()}
	b, err := p.log.Read(offset, maxBytes, hw, minOneBatch)
	if err != nil {
		return res, fmt.Errorf("read %s at %d: %w", p.tp, offset, err)
	}
	res.Batches = b
	return res, nil
}

// OffsetNotAvailableYet reports whether a new leader's HW has not yet
// reached the start of its epoch; ListOffsets answers OFFSET_NOT_AVAILABLE
// then, so consumers never see the end offset move backwards.
func (p *Partition) OffsetNotAvailableYet() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.hw.Load() < p.leaderEpochStart
}

// Replicas returns the assigned replicas and ISR.
func (p *Partition) Replicas() (replicas, isr []int32) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.state.Replicas), slices.Clone(p.state.ISR)
}

// Followers returns the leader's view of each follower, keyed by broker
// ID; nil on a follower.
func (p *Partition) Followers() map[int32]FollowerState {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.followers == nil {
		return nil
	}
	out := make(map[int32]FollowerState, len(p.followers))
	for id, f := range p.followers {
		out[id] = f
	}
	return out
}
