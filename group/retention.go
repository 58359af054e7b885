package group

import (
	"log/slog"
	"slices"
	"time"
)

// scheduleRetentionLocked arms the next offset expiry check, every
// offsets.retention.check.interval.ms (Kafka's delete-expired-group-metadata
// task).
func (s *shard) scheduleRetentionLocked() {
	s.retention = s.afterFuncLocked(s.c.cfg.OffsetsRetentionCheck, func() {
		s.expireOffsetsLocked()
		s.scheduleRetentionLocked()
	})
}

// expireOffsetsLocked removes expired offsets and then the Empty groups left
// without offsets (Kafka's cleanupGroupMetadata, KIP-211): tombstones for
// both are written in one batch, without waiting for replication, and the
// groups and offsets leave memory at once.
func (s *shard) expireOffsetsLocked() {
	now := s.now()
	var recs []coordinatorRecord
	expiredOffsets, deletedGroups := 0, 0
	for _, id := range s.sortedGroupIDsLocked() {
		g := s.groups[id]
		for _, tp := range g.expiredOffsets(now, s.c.cfg.OffsetsRetention) {
			delete(g.offsets, tp)
			recs = append(recs, offsetCommitRecord(g.id, tp, nil))
			expiredOffsets++
		}
		// A group waiting for a member to rejoin with its new ID is
		// not abandoned.
		if g.state == stateEmpty && !g.hasOffsets() && len(g.pending) == 0 {
			recs = append(recs, s.deleteGroupLocked(g)...)
			deletedGroups++
		}
	}
	if len(recs) == 0 {
		return
	}
	s.logger.Info("removed expired offsets and dead groups", slog.Int("offsets", expiredOffsets), slog.Int("groups", deletedGroups))
	s.appendLocked(recs, func(_ int64, err error) {
		if err != nil {
			s.logger.Warn("writing tombstones of expired offsets failed", slog.Any("error", err))
		}
	})
}

func (s *shard) sortedGroupIDsLocked() []string {
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// expiredOffsets lists the offsets that retention removes now (Kafka's
// offsetExpirationCondition and getExpiredOffsets). An offset with a commit
// in flight never expires, nor one of a topic the group consumes. The clock
// starts at:
//   - an explicit expire timestamp (OffsetCommit v2-v4 retention time): the
//     offset expires then;
//   - an Empty group that has a protocol type: when the group became Empty
//     (or, unknown, the commit);
//   - a Stable consumer group that knows its subscriptions: the commit, for
//     topics no member consumes;
//   - a simple group (no protocol type): the commit.
//
// Other groups (rebalancing, or with unknown subscriptions) keep all.
func (g *group) expiredOffsets(now time.Time, retention time.Duration) []topicPartition {
	var base func(o *committedOffset) int64
	switch {
	case g.consumer != nil:
		// A KIP-848 consumer group: the commit, for topics no member
		// consumes (Kafka's ConsumerGroup.offsetExpirationCondition).
		base = func(o *committedOffset) int64 { return o.commitTime }
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(o *committedOffset) int64 {
			if !g.stateTime.IsZero() {
				return g.stateTime.UnixMilli()
			}
			return o.commitTime
		}
	case g.usesConsumerProtocol() && g.subscribed != nil && g.state == stateStable:
		base = func(o *committedOffset) int64 { return o.commitTime }
	case g.protocolType == "":
		base = func(o *committedOffset) int64 { return o.commitTime }
	default:
		return nil
	}
	nowMs, retentionMs := now.UnixMilli(), retention.Milliseconds()
	var out []topicPartition
	for _, tp := range sortedOffsets(g) {
		o := g.offsets[tp]
		if _, pending := g.pendingCommits[tp]; pending || (g.state != stateEmpty && g.isSubscribedToTopic(tp.topic)) {
			continue
		}
		expired := nowMs-base(o) >= retentionMs
		if o.expireTime >= 0 {
			expired = nowMs >= o.expireTime
		}
		if expired {
			out = append(out, tp)
		}
	}
	return out
}
