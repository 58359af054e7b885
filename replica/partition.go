package replica

import (
	"context"
	"fmt"
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

	// hw is the high watermark. On a leader it only moves forward; it is
	// atomic so readers (fetch, list offsets) never take mu.
	hw atomic.Int64

	watchers watchers

	mu       sync.RWMutex
	state    State
	cfg      Config
	isLeader bool
	// leaderEpochStart is the log end offset when this node became leader
	// of the current epoch (ListOffsets answers OFFSET_NOT_AVAILABLE until
	// the HW reaches it).
	leaderEpochStart int64
}

func newPartition(tp plog.TopicPartition, nodeID int32, l *plog.Log, hw int64, now func() time.Time) *Partition {
	p := &Partition{tp: tp, nodeID: nodeID, log: l, now: now}
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

// applyState installs new metadata and config. Becoming leader of a new
// epoch records the epoch's start offset in the leader-epoch cache, as
// Kafka's Partition.makeLeader does.
func (p *Partition) applyState(st State, cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.log.SetConfig(cfg.Log)
	wasLeader, oldEpoch := p.isLeader, p.state.LeaderEpoch
	p.state = st
	p.isLeader = st.Leader == p.nodeID
	if p.isLeader && (!wasLeader || st.LeaderEpoch != oldEpoch) {
		leo := p.log.LogEndOffset()
		if err := p.log.LeaderEpochCache().Assign(st.LeaderEpoch, leo); err != nil {
			return fmt.Errorf("become leader of %s at epoch %d: %w", p.tp, st.LeaderEpoch, err)
		}
		p.leaderEpochStart = leo
	}
	if p.isLeader {
		p.maybeAdvanceHighWatermarkLocked()
	}
	p.watchers.wakeAll()
	return nil
}

func (p *Partition) setConfig(cfg Config) {
	p.mu.Lock()
	p.cfg = cfg
	p.log.SetConfig(cfg.Log)
	p.mu.Unlock()
}

// EffectiveMinISR is min(min.insync.replicas, replication factor), as Kafka
// 3.7+ computes it (KAFKA-15583): an RF=1 topic still takes acks=all writes
// whatever min.insync.replicas says.
func EffectiveMinISR(minInsync int32, replicas int) int {
	return max(1, min(int(minInsync), replicas))
}

// HighWatermark computes a leader's high watermark: the lowest log end
// offset among ISR members, never below the current one, and frozen while
// the ISR is below the effective minimum (Kafka 3.7+, KIP-966 groundwork).
// leos maps replica ID to its known log end offset; a member without an
// entry holds the HW back at the current value.
func HighWatermark(current int64, isr []int32, leos map[int32]int64, effectiveMinISR int) int64 {
	if len(isr) < effectiveMinISR {
		return current
	}
	hw := int64(-1)
	for _, id := range isr {
		leo, ok := leos[id]
		if !ok {
			return current
		}
		if hw < 0 || leo < hw {
			hw = leo
		}
	}
	return max(current, hw)
}

// maybeAdvanceHighWatermarkLocked recomputes the HW from the ISR's log end
// offsets. Followers arrive with the replication work; until then the
// leader's own LEO is the only one known. Callers hold mu (read or write);
// concurrent callers race only through the CAS, which keeps the maximum.
func (p *Partition) maybeAdvanceHighWatermarkLocked() bool {
	leos := map[int32]int64{p.nodeID: p.log.LogEndOffset()}
	target := HighWatermark(p.hw.Load(), p.state.ISR, leos, EffectiveMinISR(p.cfg.MinInsyncReplicas, len(p.state.Replicas)))
	for {
		cur := p.hw.Load()
		if target <= cur {
			return false
		}
		if p.hw.CompareAndSwap(cur, target) {
			return true
		}
	}
}

// AppendResult is what a leader append reports back to the producer.
type AppendResult = plog.AppendResult

// AppendAsLeader appends one validated batch. requiredAcks -1 is refused
// with NOT_ENOUGH_REPLICAS when the ISR is below the effective minimum, and
// nothing is written.
func (p *Partition) AppendAsLeader(batch []byte, requiredAcks int16) (AppendResult, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return AppendResult{}, fmt.Errorf("%w: %s is not led by node %d", kerr.NotLeaderForPartition, p.tp, p.nodeID)
	}
	if requiredAcks == -1 {
		if need := EffectiveMinISR(p.cfg.MinInsyncReplicas, len(p.state.Replicas)); len(p.state.ISR) < need {
			return AppendResult{}, fmt.Errorf("%w: %s has ISR %v, below the %d required", kerr.NotEnoughReplicas, p.tp, p.state.ISR, need)
		}
	}
	res, err := p.log.AppendAsLeader(batch, p.state.LeaderEpoch, p.cfg.LogAppendTime, p.now())
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", p.tp, err)
	}
	p.maybeAdvanceHighWatermarkLocked()
	p.watchers.wakeAll()
	return res, nil
}

// WaitCommitted blocks until the high watermark reaches nextOffset (every
// ISR member has the records below it), the deadline passes
// (REQUEST_TIMED_OUT), the node stops leading the epoch the records were
// written in (NOT_LEADER_OR_FOLLOWER), or ctx ends.
func (p *Partition) WaitCommitted(ctx context.Context, nextOffset int64, epoch int32, deadline <-chan time.Time) error {
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		if p.hw.Load() >= nextOffset {
			return nil
		}
		p.mu.RLock()
		leading := p.isLeader && p.state.LeaderEpoch == epoch
		p.mu.RUnlock()
		if !leading {
			return fmt.Errorf("%w: %s changed leader while waiting for acks", kerr.NotLeaderForPartition, p.tp)
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
// stable offset equals it until transactions exist).
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
