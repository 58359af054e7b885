package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	plog "github.com/samsa-broker/samsa/log"
)

// ISRChanger commits ISR changes: the node sends them to the active
// controller as AlterPartition (Kafka's AlterPartitionManager). newISR is
// the whole proposed ISR; leaderEpoch and partitionEpoch are those of the
// state the proposal is based on, so the controller refuses a stale one.
// On success it returns the ISR and partition epoch the controller holds
// now. Errors carrying a kerr code (FENCED_LEADER_EPOCH,
// INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA, ...) are the controller's
// answer for this partition; any other error is a failed attempt.
type ISRChanger interface {
	AlterPartition(ctx context.Context, tp plog.TopicPartition, topicID [16]byte, leaderEpoch, partitionEpoch int32, newISR []int32) (committedISR []int32, newPartitionEpoch int32, err error)
}

// isrChange is one replica leaving or joining, with its lag when the change
// was proposed (for the operator's log line).
type isrChange struct {
	replica    int32
	expand     bool
	lagRecords int64
	lagMs      int64
}

// isrProposal is an ISR change sent to the controller and not answered yet.
type isrProposal struct {
	isr                         []int32
	leaderEpoch, partitionEpoch int32
	changes                     []isrChange
}

// isrProposals is a leader's ISR-change bookkeeping (Kafka's
// PendingExpandIsr / PendingShrinkIsr): at most one proposal in flight per
// partition; after the controller refused one as stale, none until new
// metadata arrives; after a failed attempt, none before retryAt.
type isrProposals struct {
	pending *isrProposal
	// blocked names the (leader epoch, partition epoch) a refusal applied
	// to; proposals resume once the state moved past it.
	blocked                     bool
	blockedLeader, blockedEpoch int32
	retryAt                     time.Time
}

func (s *isrProposals) reset() { *s = isrProposals{} }

// maximal is the ISR the high watermark waits for: the committed one plus
// an addition in flight (KIP-497). A removal in flight still counts the
// replica until it is committed.
func (s *isrProposals) maximal(committed []int32) []int32 {
	if s.pending == nil {
		return committed
	}
	out := committed
	for _, id := range s.pending.isr {
		if !slices.Contains(out, id) {
			if len(out) == len(committed) {
				out = slices.Clone(committed)
			}
			out = append(out, id)
		}
	}
	return out
}

// mayPropose reports whether a new proposal may be sent for st at now.
func (s *isrProposals) mayPropose(st State, now time.Time) bool {
	if s.pending != nil || now.Before(s.retryAt) {
		return false
	}
	return !s.blocked || s.blockedLeader != st.LeaderEpoch || s.blockedEpoch != st.PartitionEpoch
}

// committed takes new metadata for a partition this node leads: metadata is
// the truth, so whatever was in flight is over (Kafka's makeLeader sets a
// CommittedPartitionState). If the metadata carries exactly the proposed
// ISR, the proposal was committed and its answer got lost or is late: it is
// reported as committed now. Requires p.mu (write) and p.rmu.
func (s *isrProposals) committed(p *Partition, st State) {
	if prop := s.pending; prop != nil && prop.leaderEpoch == st.LeaderEpoch && slices.Equal(prop.isr, st.ISR) {
		p.reportISRChange(prop, st.PartitionEpoch)
	}
	s.pending = nil
}

// isrEligibleLocked reports whether replica id may join the ISR (Kafka's
// isReplicaIsrEligible, KIP-841/KIP-903): registered, unfenced, not shutting
// down, and fetching with the broker epoch the metadata has for it (or none).
// Requires rmu.
func (p *Partition) isrEligibleLocked(id int32) bool {
	if p.repl.brokerState == nil {
		return true
	}
	epoch, eligible := p.repl.brokerState(id)
	if !eligible {
		return false
	}
	f := p.followers[id]
	return f.BrokerEpoch == -1 || f.BrokerEpoch == epoch
}

// maybeExpandISRLocked proposes adding the follower whose fetch this is if
// it has caught up (ISRChanges's expand rule), as Kafka's maybeExpandIsr
// does on each follower fetch. Only the fetching follower: the last known
// LEO of one that stopped fetching can equal a frozen HW, and it must not
// come back without fetching. Requires mu (read) and rmu.
func (p *Partition) maybeExpandISRLocked(replicaID int32, now time.Time) {
	if !p.isLeader || p.repl.submitISR == nil || !p.isr.mayPropose(p.state, now) {
		return
	}
	leo := p.log.LogEndOffset()
	_, expand := ISRChanges(p.state, p.leaderEpochStart, p.followers, leo, p.hw.Load(), now, p.repl.lagMax)
	if !slices.Contains(expand, replicaID) || !p.isrEligibleLocked(replicaID) {
		return
	}
	isr := append(slices.Clone(p.state.ISR), replicaID)
	p.proposeLocked(isr, []int32{replicaID}, true, leo, now)
}

// maybeShrinkISR proposes removing the followers that are out of sync,
// called periodically (Kafka's isr-expiration task, every half of
// replica.lag.time.max.ms).
func (p *Partition) maybeShrinkISR(now time.Time) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if !p.isLeader || p.repl.submitISR == nil || !p.isr.mayPropose(p.state, now) {
		return
	}
	leo := p.log.LogEndOffset()
	shrink, _ := ISRChanges(p.state, p.leaderEpochStart, p.followers, leo, p.hw.Load(), now, p.repl.lagMax)
	if len(shrink) == 0 {
		return
	}
	isr := slices.DeleteFunc(slices.Clone(p.state.ISR), func(id int32) bool { return slices.Contains(shrink, id) })
	p.proposeLocked(isr, shrink, false, leo, now)
}

// proposeLocked records a proposal as in flight and hands it to the
// Manager, which sends it outside the locks. Requires mu and rmu.
func (p *Partition) proposeLocked(isr, changed []int32, expand bool, leo int64, now time.Time) {
	prop := &isrProposal{isr: isr, leaderEpoch: p.state.LeaderEpoch, partitionEpoch: p.state.PartitionEpoch}
	for _, id := range changed {
		f := p.followers[id]
		c := isrChange{replica: id, expand: expand, lagRecords: leo - max(f.LogEndOffset, 0), lagMs: -1}
		if !f.LastCaughtUpTime.IsZero() {
			c.lagMs = now.Sub(f.LastCaughtUpTime).Milliseconds()
		}
		prop.changes = append(prop.changes, c)
	}
	p.isr.pending = prop
	p.repl.logger.Info("proposing ISR change", slog.String("partition", p.tp.String()),
		slog.Any("isr", p.state.ISR), slog.Any("proposed_isr", isr),
		slog.Int("leader_epoch", int(prop.leaderEpoch)), slog.Int("partition_epoch", int(prop.partitionEpoch)))
	p.repl.submitISR(p, prop)
}

// isrRetryBackoff spaces attempts after an AlterPartition that failed for
// a reason other than the controller's refusal (Kafka's AlterPartitionManager
// retries with a short backoff).
const isrRetryBackoff = 100 * time.Millisecond

// completeISRProposal takes the controller's answer to prop, as Kafka's
// handleAlterPartitionUpdate / handleAlterPartitionError do. An answer to a
// proposal that is no longer in flight (new metadata arrived meanwhile) is
// ignored: metadata is the truth.
func (p *Partition) completeISRProposal(prop *isrProposal, isr []int32, partitionEpoch int32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.isr.pending != prop {
		return
	}
	p.isr.pending = nil
	attrs := []any{slog.String("partition", p.tp.String()), slog.Any("proposed_isr", prop.isr)}
	switch {
	case err == nil:
	case refusedAsStale(err):
		// Our state is stale: wait for the metadata that says so.
		p.isr.blocked, p.isr.blockedLeader, p.isr.blockedEpoch = true, prop.leaderEpoch, prop.partitionEpoch
		p.repl.logger.Info("ISR change refused; waiting for new metadata", append(attrs, slog.Any("err", err))...)
		return
	default:
		// INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED, or no answer: back to
		// the committed ISR, and try again later.
		p.isr.retryAt = p.now().Add(isrRetryBackoff)
		p.repl.logger.Warn("ISR change failed", append(attrs, slog.Any("err", err))...)
		return
	}
	if !p.isLeader || p.state.LeaderEpoch != prop.leaderEpoch || partitionEpoch < p.state.PartitionEpoch {
		return
	}
	p.state.ISR, p.state.PartitionEpoch = slices.Clone(isr), partitionEpoch
	if slices.Equal(isr, prop.isr) {
		p.reportISRChange(prop, partitionEpoch)
	}
	p.maybeAdvanceHighWatermarkLocked(p.now())
	p.watchers.wakeAll()
}

// refusedAsStale reports whether the controller refused a proposal because
// the leader's view of the partition is out of date; Kafka's
// handleAlterPartitionError leaves such a partition alone until new
// metadata arrives instead of retrying. NEW_LEADER_ELECTED is one of them:
// the change was committed, but it completed a reassignment that moved
// leadership away (KIP-455), so only the metadata can say what is next.
func refusedAsStale(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Code {
	case kerr.FencedLeaderEpoch.Code, kerr.InvalidUpdateVersion.Code, kerr.UnknownTopicOrPartition.Code,
		kerr.UnknownTopicID.Code, kerr.NotLeaderForPartition.Code, kerr.InvalidRequest.Code,
		kerr.NewLeaderElected.Code:
		return true
	}
	return false
}

// reportISRChange logs a committed shrink or expansion at WARN (an
// operator-visible event) and counts it.
func (p *Partition) reportISRChange(prop *isrProposal, partitionEpoch int32) {
	for _, c := range prop.changes {
		msg := "replica left the ISR"
		if c.expand {
			msg = "replica joined the ISR"
		}
		p.repl.logger.Warn(msg, slog.String("partition", p.tp.String()), slog.Int("replica", int(c.replica)),
			slog.Int64("lag_records", c.lagRecords), slog.Int64("lag_ms", c.lagMs),
			slog.Any("isr", prop.isr), slog.Int("partition_epoch", int(partitionEpoch)))
		p.repl.metrics.isrChanged(c.expand)
	}
}

// followerLag is one ISR follower that has not been caught up for a while.
type followerLag struct {
	tp         plog.TopicPartition
	replica    int32
	lagRecords int64
	lag        time.Duration
}

// laggingFollowers lists the ISR followers not caught up for more than
// threshold, for the early warning before they are removed.
func (p *Partition) laggingFollowers(now time.Time, threshold time.Duration) []followerLag {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return nil
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	leo := p.log.LogEndOffset()
	var out []followerLag
	for _, id := range p.state.ISR {
		f, ok := p.followers[id]
		if !ok || id == p.nodeID || f.LogEndOffset == leo {
			continue
		}
		if lag := now.Sub(f.LastCaughtUpTime); lag > threshold {
			out = append(out, followerLag{tp: p.tp, replica: id, lagRecords: leo - max(f.LogEndOffset, 0), lag: lag})
		}
	}
	return out
}

// submitISRProposal sends prop on a goroutine the Manager owns and waits
// for in Close. Called with the partition's locks held, so it never blocks.
func (m *Manager) submitISRProposal(p *Partition, prop *isrProposal) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed {
		return
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.AlterPartitionTimeout)
		defer cancel()
		st := p.State()
		isr, epoch, err := m.cfg.ISRChanger.AlterPartition(ctx, p.tp, st.TopicID, prop.leaderEpoch, prop.partitionEpoch, prop.isr)
		if err != nil {
			err = fmt.Errorf("alter ISR of %s: %w", p.tp, err)
		}
		p.completeISRProposal(prop, isr, epoch, err)
	}()
}

// MaybeShrinkISRs runs one ISR expiration pass over the partitions this
// node leads (Kafka's maybeShrinkIsr on every partition), and warns once per
// replica.lag.time.max.ms about each follower broker with ISR partitions
// that have not been caught up for half of it. The Manager calls it every
// half of replica.lag.time.max.ms; tests call it with their own now.
func (m *Manager) MaybeShrinkISRs(now time.Time) {
	lagMax := m.cfg.ReplicaLagTimeMax
	worst := map[int32]followerLag{}
	count := map[int32]int{}
	for _, p := range m.Partitions() {
		p.maybeShrinkISR(now)
		for _, l := range p.laggingFollowers(now, lagMax/2) {
			count[l.replica]++
			if w, ok := worst[l.replica]; !ok || l.lag > w.lag {
				worst[l.replica] = l
			}
		}
	}
	m.lagWarnMu.Lock()
	defer m.lagWarnMu.Unlock()
	for id, w := range worst {
		if last, ok := m.lagWarned[id]; ok && now.Sub(last) < lagMax {
			continue
		}
		m.lagWarned[id] = now
		m.logger.Warn("follower lagging behind the leader", slog.Int("replica", int(id)), slog.Int("partitions", count[id]),
			slog.String("worst_partition", w.tp.String()), slog.Int64("lag_records", w.lagRecords), slog.Int64("lag_ms", w.lag.Milliseconds()),
			slog.Int64("replica_lag_time_max_ms", lagMax.Milliseconds()))
	}
}

// runISRExpiration is the isr-expiration loop (Kafka's ReplicaManager
// schedules it every replica.lag.time.max.ms / 2).
func (m *Manager) runISRExpiration() {
	defer m.bg.Done()
	t := time.NewTicker(max(m.cfg.ReplicaLagTimeMax/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.MaybeShrinkISRs(m.now())
		}
	}
}
