package replica

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

// FollowerReadResult is a leader's answer to one partition of a follower
// fetch. HighWatermark and LogStartOffset are filled even with an
// OFFSET_OUT_OF_RANGE error, so the follower can find its way back without
// another request (see handleOutOfRange).
type FollowerReadResult struct {
	Batches        []byte
	HighWatermark  int64
	LogStartOffset int64
	// LogEndOffset is the leader's LEO when the read started.
	LogEndOffset int64
	// DivergingEpoch is set when the follower's log diverges from the
	// leader's (KIP-320); Batches is then empty.
	DivergingEpoch *EpochEndOffset
}

// ReadForFollower serves one partition of a follower's fetch, as Kafka's
// Partition.fetchRecords does for a replica: the leader epoch check
// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH / NOT_LEADER_OR_FOLLOWER), the
// replica must be assigned (UNKNOWN_LEADER_EPOCH when the fetch carries an
// epoch, so the follower retries once the metadata agrees; else
// NOT_LEADER_OR_FOLLOWER) and not an older incarnation (KIP-903:
// NOT_LEADER_OR_FOLLOWER), divergence by lastFetchedEpoch (KIP-320), then
// records up to the LEO, at most maxBytes but at least one batch (KIP-74).
// A read without divergence records the follower's fetch (its LEO and
// caught-up time), may propose it for the ISR, recomputes the high
// watermark and wakes the requests it satisfies.
func (p *Partition) ReadForFollower(replicaID int32, brokerEpoch int64, fetchOffset int64, lastFetchedEpoch int32, currentLeaderEpoch int32, maxBytes int, now time.Time) (FollowerReadResult, error) {
	return p.readForFollower(followerRead{replicaID: replicaID, brokerEpoch: brokerEpoch, fetchOffset: fetchOffset,
		lastFetchedEpoch: lastFetchedEpoch, currentLeaderEpoch: currentLeaderEpoch, maxBytes: maxBytes,
		minOneBatch: true, updateState: true}, now)
}

// followerRead is one partition read for a follower fetch.
type followerRead struct {
	replicaID          int32
	brokerEpoch        int64
	fetchOffset        int64
	lastFetchedEpoch   int32
	currentLeaderEpoch int32
	maxBytes           int
	minOneBatch        bool
	// updateState is false for the re-reads of a parked fetch: only the
	// fetch as it arrived says where the follower is (Kafka's
	// updateFetchState = !readFromPurgatory).
	updateState bool
}

func (p *Partition) readForFollower(r followerRead, now time.Time) (FollowerReadResult, error) {
	res := FollowerReadResult{HighWatermark: -1, LogStartOffset: -1, LogEndOffset: -1}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkLeaderEpochLocked(r.currentLeaderEpoch, true); err != nil {
		return res, err
	}
	if r.replicaID == p.nodeID || !slices.Contains(p.state.Replicas, r.replicaID) {
		ke := kerr.NotLeaderForPartition
		if r.currentLeaderEpoch >= 0 {
			ke = kerr.UnknownLeaderEpoch
		}
		return res, fmt.Errorf("%w: broker %d is not a replica of %s %v at leader epoch %d", ke, r.replicaID, p.tp, p.state.Replicas, p.state.LeaderEpoch)
	}
	if r.brokerEpoch != -1 && p.repl.brokerState != nil {
		if registered, _ := p.repl.brokerState(r.replicaID); registered > r.brokerEpoch {
			return res, fmt.Errorf("%w: fetch from broker %d at stale broker epoch %d, registered %d", kerr.NotLeaderForPartition, r.replicaID, r.brokerEpoch, registered)
		}
	}
	// The LEO as of before the read: later appends must not keep a
	// follower that read everything from counting as caught up.
	res.HighWatermark, res.LogStartOffset, res.LogEndOffset = p.hw.Load(), p.log.LogStartOffset(), p.log.LogEndOffset()
	if r.lastFetchedEpoch >= 0 {
		found, end := p.log.LeaderEpochCache().EndOffsetFor(r.lastFetchedEpoch, res.LogEndOffset)
		switch {
		case found < 0 || end < 0:
			return res, fmt.Errorf("%w: %s cannot place the follower's last fetched epoch %d", plog.ErrOffsetOutOfRange, p.tp, r.lastFetchedEpoch)
		case r.fetchOffset < res.LogStartOffset:
			return res, fmt.Errorf("%w: %s: fetch offset %d is below the log start offset %d", plog.ErrOffsetOutOfRange, p.tp, r.fetchOffset, res.LogStartOffset)
		}
		if div, ok := DivergingEpoch(r.lastFetchedEpoch, r.fetchOffset, found, end); ok {
			res.DivergingEpoch = &div
			return res, nil
		}
	}
	b, err := p.log.Read(r.fetchOffset, r.maxBytes, res.LogEndOffset, r.minOneBatch)
	if err != nil {
		return res, fmt.Errorf("read %s at %d for broker %d: %w", p.tp, r.fetchOffset, r.replicaID, err)
	}
	res.Batches = b
	if r.updateState {
		p.rmu.Lock()
		if p.followers != nil {
			p.followers[r.replicaID] = p.followers[r.replicaID].AfterFetch(r.fetchOffset, res.LogEndOffset, r.brokerEpoch, now)
			p.maybeExpandISRLocked(r.replicaID, now)
			p.maybeAdvanceHighWatermarkLocked(now)
		}
		p.rmu.Unlock()
		res.HighWatermark = p.hw.Load()
	}
	return res, nil
}

// FollowerFetchPartition is one partition of a follower fetch.
type FollowerFetchPartition struct {
	TP                 plog.TopicPartition
	FetchOffset        int64
	LastFetchedEpoch   int32
	CurrentLeaderEpoch int32
	MaxBytes           int32
}

// FollowerFetchRequest is a Fetch from another broker's replica fetcher.
type FollowerFetchRequest struct {
	ReplicaID   int32
	BrokerEpoch int64
	MaxWait     time.Duration
	MinBytes    int32
	MaxBytes    int32
	Partitions  []FollowerFetchPartition
}

// FollowerFetchResult is one partition's answer, in request order.
type FollowerFetchResult struct {
	FollowerReadResult
	Err error
}

// FetchForFollower serves a follower fetch as Fetch does a consumer's:
// every partition is read once (recording the follower's position, which
// can advance the high watermark and complete acks=all produces); if that
// satisfies the request (min bytes, an error, a diverging epoch, or no wait
// allowed) wait is nil. Otherwise wait parks until appends bring min bytes
// or MaxWait passes, and reads again (Kafka's DelayedFetch).
func (m *Manager) FetchForFollower(ctx context.Context, req FollowerFetchRequest) (results []FollowerFetchResult, wait func() []FollowerFetchResult) {
	results, bytes, done := m.readAllForFollower(req, true)
	if req.MaxWait <= 0 || bytes >= int(req.MinBytes) || done || len(req.Partitions) == 0 {
		return results, nil
	}
	return nil, func() []FollowerFetchResult { return m.waitForFollower(ctx, req) }
}

func (m *Manager) waitForFollower(ctx context.Context, req FollowerFetchRequest) []FollowerFetchResult {
	tps := make([]plog.TopicPartition, len(req.Partitions))
	for i, fp := range req.Partitions {
		tps[i] = fp.TP
	}
	return park(ctx, m, tps, req.MaxWait, func() ([]FollowerFetchResult, bool) {
		results, bytes, done := m.readAllForFollower(req, false)
		return results, bytes >= int(req.MinBytes) || done
	})
}

// readAllForFollower reads each partition under the response byte budget;
// the first partition with data may exceed it by one batch (KIP-74).
func (m *Manager) readAllForFollower(req FollowerFetchRequest, updateState bool) (results []FollowerFetchResult, total int, done bool) {
	results = make([]FollowerFetchResult, len(req.Partitions))
	budget := int(req.MaxBytes)
	now := m.now()
	for i, fp := range req.Partitions {
		p, ok := m.Partition(fp.TP)
		if !ok {
			results[i].Err = fmt.Errorf("%w: %s is not hosted on node %d", kerr.NotLeaderForPartition, fp.TP, m.nodeID)
			results[i].HighWatermark, results[i].LogStartOffset, results[i].LogEndOffset = -1, -1, -1
			done = true
			continue
		}
		r := followerRead{replicaID: req.ReplicaID, brokerEpoch: req.BrokerEpoch, fetchOffset: fp.FetchOffset,
			lastFetchedEpoch: fp.LastFetchedEpoch, currentLeaderEpoch: fp.CurrentLeaderEpoch,
			maxBytes: min(int(fp.MaxBytes), max(budget, 0)), minOneBatch: total == 0, updateState: updateState}
		rr, err := p.readForFollower(r, now)
		results[i] = FollowerFetchResult{FollowerReadResult: rr, Err: err}
		if err != nil || rr.DivergingEpoch != nil {
			done = true
			continue
		}
		total += len(rr.Batches)
		budget -= len(rr.Batches)
	}
	return results, total, done
}
