package group

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newConsumerMemberID generates a member ID for a v0 join: Kafka's
// Uuid.randomUuid().toString(), the URL-safe base64 of 16 random bytes.
func newConsumerMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// consumerMemberLocked finds the member a heartbeat (epoch >= 0) is from,
// or nil for a member that joins anew, and checks its epoch (Kafka's
// throwIfMemberEpochIsInvalid): a newer epoch than the member's, or an older
// one that is not the previous epoch with owned partitions it still holds,
// is FENCED_MEMBER_EPOCH; the client then rejoins with epoch 0.
//
// A join (epoch 0) with the group.instance.id of a static member that left
// with epoch -2 returns that member as replaced: the joiner takes its place
// (KIP-345 semantics in KIP-848). While the old member has not left, the
// instance ID is UNRELEASED_INSTANCE_ID.
func (s *shard) consumerMemberLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest) (m, replaced *consumerMember, code int16, msg string) {
	m, code, msg = s.findConsumerMemberLocked(g, req)
	if code != 0 || req.MemberEpoch != joinMemberEpoch || req.InstanceID == nil {
		return m, nil, code, msg
	}
	for _, o := range g.consumer.members {
		if o.instanceID == nil || *o.instanceID != *req.InstanceID || o.id == req.MemberID {
			continue
		}
		if o.epoch != leaveStaticMemberEpoch {
			return nil, nil, kerr.UnreleasedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s is not released yet.", o.id, *req.InstanceID)
		}
		if m != nil {
			return nil, nil, kerr.UnreleasedInstanceID.Code, fmt.Sprintf("Instance id %s is held by member %s.", *req.InstanceID, o.id)
		}
		return nil, o, 0, ""
	}
	return m, nil, 0, ""
}

func (s *shard) findConsumerMemberLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest) (*consumerMember, int16, string) {
	cg := g.consumer
	m := cg.members[req.MemberID]
	if req.MemberEpoch == joinMemberEpoch {
		if m != nil {
			// A known member (re)joining owns nothing any more: its
			// current assignment restarts from scratch.
			m.assigned, m.revoking, m.state = make(partSet), make(partSet), memberStable
			m.prevEpoch, m.epoch = m.epoch, 0
			stopTimer(m.revokeTimer)
			m.revokeTimer = nil
		}
		return m, 0, ""
	}
	if m == nil {
		return nil, kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id)
	}
	switch {
	case req.MemberEpoch > m.epoch:
		return nil, kerr.FencedMemberEpoch.Code, fmt.Sprintf("The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
	case req.MemberEpoch < m.epoch:
		// The response with the new epoch may have been lost: the
		// previous epoch is accepted while the member owns nothing
		// beyond its assignment.
		ok := req.MemberEpoch == m.prevEpoch && req.Topics != nil
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				if _, has := m.assigned[tpID{t.TopicID, p}]; !has {
					ok = false
				}
			}
		}
		if !ok {
			return nil, kerr.FencedMemberEpoch.Code, fmt.Sprintf("The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
		}
	}
	return m, 0, ""
}

// consumerLeaveLocked removes a member that leaves with epoch -1, or -2 for
// a static member (Kafka's consumerGroupLeave). The answer echoes the
// member ID and the leave epoch.
func (s *shard) consumerLeaveLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) <-chan int16 {
	if g == nil || g.consumer == nil {
		hbError(resp, kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s not found.", req.Group))
		return nil
	}
	cg := g.consumer
	var m *consumerMember
	if req.MemberEpoch == leaveStaticMemberEpoch {
		for _, o := range cg.members {
			if o.instanceID != nil && *o.instanceID == *req.InstanceID {
				m = o
			}
		}
		if m != nil && m.id != req.MemberID {
			hbError(resp, kerr.FencedInstanceID.Code, fmt.Sprintf("Static member %s with instance id %s is not the member %s.", m.id, *req.InstanceID, req.MemberID))
			return nil
		}
	} else {
		m = cg.members[req.MemberID]
	}
	if m == nil {
		hbError(resp, kerr.UnknownMemberID.Code, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id))
		return nil
	}
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == leaveStaticMemberEpoch {
		// A static member leaving temporarily keeps its partitions; its
		// session timer still runs, so it is removed unless a member
		// with its instance ID joins in time (Kafka's
		// consumerGroupStaticMemberGroupLeave).
		m.prevEpoch, m.epoch = m.epoch, leaveStaticMemberEpoch
		m.revoking = make(partSet)
		stopTimer(m.revokeTimer)
		m.revokeTimer = nil
		g.syncClassicView(s.now())
		return s.writeAndReport([]coordinatorRecord{consumerCurrentMemberRecord(g.id, m)})
	}
	return s.writeAndReport(s.removeConsumerMemberLocked(g, m, "the member left"))
}

// writeAndReport appends recs; their outcome arrives on the channel.
func (s *shard) writeAndReport(recs []coordinatorRecord) <-chan int16 {
	result := make(chan int16, 1)
	s.appendLocked(recs, func(_ int64, err error) { result <- s.groupWriteErrorCode(err) })
	return result
}

// replaceStaticConsumerMemberLocked puts a member with ID newID (generated
// when empty) in old's place: same metadata, assignment and target, epoch 0
// so that it reconciles to the current target at once.
func (s *shard) replaceStaticConsumerMemberLocked(g *group, old *consumerMember, newID string) *consumerMember {
	cg := g.consumer
	if newID == "" {
		newID = newConsumerMemberID()
	}
	stopTimer(old.session)
	stopTimer(old.revokeTimer)
	m := &consumerMember{
		id: newID, instanceID: old.instanceID, rackID: old.rackID, clientID: old.clientID, clientHost: old.clientHost,
		subscribedNames: old.subscribedNames, subscribedRegex: old.subscribedRegex, serverAssignor: old.serverAssignor,
		rebalanceTimeoutMs: old.rebalanceTimeoutMs, state: memberStable, assigned: old.assigned.clone(),
		revoking: make(partSet), hasMetadata: true,
	}
	delete(cg.members, old.id)
	cg.members[newID] = m
	cg.target[newID] = cg.target[old.id]
	delete(cg.target, old.id)
	s.logger.Info("static consumer group member rejoined", slog.String("group", g.id), slog.String("instance", *old.instanceID),
		slog.String("old_member", old.id), slog.String("member", newID))
	return m
}

// removeConsumerMemberLocked takes m out of the group, bumps the group
// epoch and computes the new target assignment; it returns the records to
// write.
func (s *shard) removeConsumerMemberLocked(g *group, m *consumerMember, reason string) []coordinatorRecord {
	cg := g.consumer
	stopTimer(m.session)
	stopTimer(m.revokeTimer)
	m.session, m.revokeTimer = nil, nil
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	s.logger.Info("consumer group member removed", slog.String("group", g.id), slog.String("member", m.id),
		slog.String("reason", reason))
	recs := consumerMemberTombstones(g.id, m.id)
	recs = append(recs, s.bumpGroupEpochLocked(g, subscriptionMetadata(cg, nil))...)
	g.syncClassicView(s.now())
	return recs
}

// subscriptionMetadata is the metadata of every subscribed topic that
// exists in lookup (nil: in the group's current subscription metadata).
func subscriptionMetadata(cg *consumerGroup, lookup TopicLookup) map[string]TopicInfo {
	out := make(map[string]TopicInfo)
	for n := range cg.subscribedTopicNames(lookup) {
		if lookup == nil {
			if t, ok := cg.topics[n]; ok {
				out[n] = t
			}
			continue
		}
		if t, ok := lookup.TopicByName(n); ok && t.Partitions > 0 {
			out[n] = t
		}
	}
	return out
}

// bumpGroupEpochLocked starts a new group epoch with topics as the
// subscription metadata and computes its target assignment at once
// (Kafka's updateTargetAssignment): the records are the subscription
// metadata when it changed, the group epoch, each member's target that
// changed, and the assignment epoch.
func (s *shard) bumpGroupEpochLocked(g *group, topics map[string]TopicInfo) []coordinatorRecord {
	cg := g.consumer
	cg.epoch++
	var recs []coordinatorRecord
	if !mapsEqualTopics(topics, cg.topics) {
		cg.topics = topics
		recs = append(recs, consumerPartitionMetadataRecord(g.id, cg.epoch, topics))
	}
	recs = append(recs, consumerGroupMetadataRecord(g.id, cg.epoch))
	target := cg.computeTarget()
	for _, id := range cg.sortedMemberIDs() {
		if old, ok := cg.target[id]; !ok || !old.equal(target[id]) {
			recs = append(recs, consumerTargetMemberRecord(g.id, id, target[id]))
		}
	}
	cg.target = target
	cg.assignmentEpoch = cg.epoch
	recs = append(recs, consumerTargetMetadataRecord(g.id, cg.epoch))
	return recs
}

func mapsEqualTopics(a, b map[string]TopicInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// scheduleConsumerSessionLocked (re)arms m's session timer
// (group.consumer.session.timeout.ms): a member that stops heartbeating
// is removed and its partitions reassigned.
func (s *shard) scheduleConsumerSessionLocked(g *group, m *consumerMember) {
	stopTimer(m.session)
	m.sessionSeq++
	seq := m.sessionSeq
	m.session = s.afterFuncLocked(s.c.cfg.ConsumerSessionTimeout, func() {
		if !s.currentLocked(g) || g.consumer == nil || g.consumer.members[m.id] != m || m.sessionSeq != seq {
			return
		}
		m.session = nil
		s.writeConsumerRemovalLocked(g, m, "session timeout expired")
	})
}

// scheduleRevocationLocked gives m its rebalance timeout to revoke
// partitions (Kafka's scheduleConsumerGroupRebalanceTimeout): a member
// still holding them then is removed, so others can take them.
func (s *shard) scheduleRevocationLocked(g *group, m *consumerMember) {
	stopTimer(m.revokeTimer)
	m.revokeSeq++
	seq, epoch := m.revokeSeq, m.epoch
	d := time.Duration(m.rebalanceTimeoutMs) * time.Millisecond
	m.revokeTimer = s.afterFuncLocked(d, func() {
		if !s.currentLocked(g) || g.consumer == nil || g.consumer.members[m.id] != m || m.revokeSeq != seq ||
			m.state != memberUnrevoked || m.epoch != epoch {
			return
		}
		m.revokeTimer = nil
		s.writeConsumerRemovalLocked(g, m, "rebalance timeout expired before the member revoked its partitions")
	})
}

// writeConsumerRemovalLocked removes m from a timer and writes the records
// without anyone waiting for them.
func (s *shard) writeConsumerRemovalLocked(g *group, m *consumerMember, reason string) {
	recs := s.removeConsumerMemberLocked(g, m, reason)
	s.appendLocked(recs, func(_ int64, err error) {
		if err != nil {
			s.logger.Warn("writing a consumer group member removal failed", slog.String("group", g.id), slog.Any("error", err))
		}
	})
}

// syncClassicView mirrors a consumer group into the classic fields the
// shared paths read: Empty without members, Stable with (DeleteGroups,
// retention), and the subscribed topics (OffsetDelete, retention).
func (g *group) syncClassicView(now time.Time) {
	cg := g.consumer
	if cg == nil {
		return
	}
	st := stateStable
	if len(cg.members) == 0 {
		st = stateEmpty
	}
	if g.state != st {
		g.transitionTo(st, now)
	}
	g.subscribed = cg.subscribedTopicNames(nil)
	for _, m := range cg.members {
		for _, n := range m.subscribedNames {
			g.subscribed[n] = struct{}{}
		}
	}
}

// stopConsumerTimers stops every member timer of a consumer group.
func (g *group) stopConsumerTimers() {
	if g.consumer == nil {
		return
	}
	for _, m := range g.consumer.members {
		stopTimer(m.session)
		stopTimer(m.revokeTimer)
	}
}
