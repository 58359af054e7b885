package group

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Member epochs with a meaning (Kafka's ConsumerGroupHeartbeatRequest).
const (
	joinMemberEpoch        = 0
	leaveMemberEpoch       = -1
	leaveStaticMemberEpoch = -2
)

// hbError is a heartbeat answer that is only an error.
func hbError(resp *kmsg.ConsumerGroupHeartbeatResponse, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = kmsg.StringPtr(msg)
	}
	return resp
}

// ConsumerGroupHeartbeat is the KIP-848 member protocol (Kafka's
// GroupMetadataManager.consumerGroupHeartbeat): a member joins with epoch 0,
// heartbeats with its current epoch, reports its owned partitions, and
// leaves with epoch -1 (-2: a static member that will come back). Changes of
// membership, subscriptions or the subscribed topics' metadata bump the
// group epoch and compute a new target assignment; each member then
// reconciles towards it, revoking before it is given partitions others
// still own. Records are written to __consumer_offsets and the answer waits
// until they are replicated. topics is the node's current topic metadata.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, topics TopicLookup) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if code, msg := validateConsumerHeartbeat(req); code != 0 {
		return hbError(resp, code, msg)
	}
	s, code := c.lockShard(req.Group)
	if code != 0 {
		return hbError(resp, code, "")
	}
	wait := s.consumerHeartbeatLocked(req, topics, clientFrom(ctx), resp)
	s.mu.Unlock()
	if wait == nil {
		return resp
	}
	code, ok := await(ctx, wait)
	if !ok {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code != 0 {
		// The records did not make it: the client retries with a full
		// heartbeat, as after any error.
		*resp = *req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		return hbError(resp, code, "")
	}
	return resp
}

// validateConsumerHeartbeat is Kafka's
// throwIfConsumerGroupHeartbeatRequestIsInvalid.
func validateConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	invalid := kerr.InvalidRequest.Code
	switch {
	case req.Group == "":
		return invalid, "GroupId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return invalid, "RackId can't be empty."
	case req.Version >= 1 && req.MemberID == "":
		// KIP-1082: from v1 the client generates its member ID.
		return invalid, "MemberId can't be empty."
	}
	switch e := req.MemberEpoch; {
	case e > 0 || e == leaveMemberEpoch:
		if req.MemberID == "" {
			return invalid, "MemberId can't be empty."
		}
	case e == joinMemberEpoch:
		if req.RebalanceTimeoutMillis == -1 {
			return invalid, "RebalanceTimeoutMs must be provided in first request."
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return invalid, "TopicPartitions must be empty when (re-)joining."
		}
		names := len(req.SubscribedTopicNames) > 0
		regex := req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != ""
		if !names && !regex {
			return invalid, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	case e == leaveStaticMemberEpoch:
		if req.InstanceID == nil {
			return invalid, "InstanceId can't be null."
		}
	default:
		return invalid, "MemberEpoch is invalid."
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, fmt.Sprintf("SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.SubscribedTopicRegex, err)
		}
	}
	if a := req.ServerAssignor; a != nil && *a != uniformAssignor && *a != rangeAssignor {
		return kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %s, %s.", *a, uniformAssignor, rangeAssignor)
	}
	return 0, ""
}

// consumerHeartbeatLocked runs one heartbeat; it returns the channel the
// write's outcome arrives on, or nil when resp is complete.
func (s *shard) consumerHeartbeatLocked(req *kmsg.ConsumerGroupHeartbeatRequest, topics TopicLookup, client clientInfo, resp *kmsg.ConsumerGroupHeartbeatResponse) <-chan int16 {
	fail := func(code int16, msg string) <-chan int16 {
		hbError(resp, code, msg)
		return nil
	}
	g := s.groups[req.Group]
	if req.MemberEpoch < 0 {
		return s.consumerLeaveLocked(g, req, resp)
	}
	if g != nil && g.consumer == nil {
		// A classic group: an empty one becomes a consumer group (its
		// offsets kept), one with members is not a consumer group.
		if len(g.members) > 0 || len(g.pending) > 0 || g.state != stateEmpty {
			return fail(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", req.Group))
		}
	}
	var recs []coordinatorRecord
	if g == nil || g.consumer == nil {
		if req.MemberEpoch != joinMemberEpoch {
			return fail(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s not found.", req.Group))
		}
		if g == nil {
			g = newGroup(req.Group, s.now())
			s.groups[g.id] = g
		} else if g.protocolType != "" {
			// The empty classic group's metadata record goes; its
			// offsets stay.
			recs = append(recs, groupTombstone(g.id))
		}
		g.consumer = newConsumerGroup()
		g.protocolType = consumerProtocolType
	}
	cg := g.consumer
	m, replaced, code, msg := s.consumerMemberLocked(g, req)
	if code != 0 {
		if len(cg.members) == 0 && cg.epoch == 0 && !g.hasOffsets() {
			delete(s.groups, g.id)
		}
		return fail(code, msg)
	}
	isNew := m == nil && replaced == nil
	if replaced != nil {
		// A static member that left with epoch -2 comes back under a
		// new member ID: it takes over the old member's partitions and
		// target without a new group epoch.
		m = s.replaceStaticConsumerMemberLocked(g, replaced, req.MemberID)
		recs = append(recs, consumerMemberTombstones(g.id, replaced.id)...)
		recs = append(recs, consumerTargetMemberRecord(g.id, m.id, cg.target[m.id]))
	}
	force := isNew || replaced != nil
	if isNew {
		if len(cg.members) >= s.c.cfg.ConsumerMaxSize {
			return fail(kerr.GroupMaxSizeReached.Code, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", s.c.cfg.ConsumerMaxSize))
		}
		id := req.MemberID
		if id == "" {
			id = newConsumerMemberID()
		}
		m = newConsumerMember(id)
	}
	before := *m
	before.assigned = m.assigned.clone()

	// Update the member's metadata from the request (null: unchanged).
	changed := force
	upd := func(dst **string, v *string) {
		if v != nil && (*dst == nil || **dst != *v) {
			*dst, changed = new(*v), true
		}
	}
	upd(&m.instanceID, req.InstanceID)
	upd(&m.rackID, req.RackID)
	subsChanged := isNew
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.subscribedNames) {
			m.subscribedNames, subsChanged = names, true
		}
	}
	if req.SubscribedTopicRegex != nil {
		re := req.SubscribedTopicRegex
		if *re == "" {
			re = nil
		}
		if (re == nil) != (m.subscribedRegex == nil) || (re != nil && *re != *m.subscribedRegex) {
			m.subscribedRegex, subsChanged = re, true
		}
	}
	if req.ServerAssignor != nil && (m.serverAssignor == nil || *m.serverAssignor != *req.ServerAssignor) {
		m.serverAssignor, subsChanged = new(*req.ServerAssignor), true
	}
	if req.RebalanceTimeoutMillis != -1 && req.RebalanceTimeoutMillis != m.rebalanceTimeoutMs {
		m.rebalanceTimeoutMs, changed = req.RebalanceTimeoutMillis, true
	}
	// Kafka takes the client ID and host from every heartbeat.
	if m.clientID != client.id || m.clientHost != client.host {
		m.clientID, m.clientHost, changed = client.id, client.host, true
	}
	changed = changed || subsChanged
	if isNew {
		cg.members[m.id] = m
		m.hasMetadata = true
	}
	if changed {
		recs = append(recs, consumerMemberMetadataRecord(g.id, m))
	}

	// Bump the group epoch when membership or subscriptions changed, or
	// when the subscribed topics' metadata differs from what the last
	// target assignment used.
	newTopics := subscriptionMetadata(cg, topics)
	metaChanged := !maps.Equal(newTopics, cg.topics)
	if subsChanged || metaChanged {
		recs = append(recs, s.bumpGroupEpochLocked(g, newTopics)...)
	}

	var owned partSet
	if req.Topics != nil {
		owned = make(partSet)
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned[tpID{t.TopicID, p}] = struct{}{}
			}
		}
	}
	cg.reconcile(m, owned)
	if m.state == memberUnrevoked && (before.state != memberUnrevoked || before.epoch != m.epoch) {
		s.scheduleRevocationLocked(g, m)
	} else if m.state != memberUnrevoked {
		stopTimer(m.revokeTimer)
		m.revokeTimer = nil
	}
	if force || m.epoch != before.epoch || m.prevEpoch != before.prevEpoch || m.state != before.state ||
		!m.assigned.equal(before.assigned) || !m.revoking.equal(before.revoking) {
		recs = append(recs, consumerCurrentMemberRecord(g.id, m))
	}
	s.scheduleConsumerSessionLocked(g, m)
	g.syncClassicView(s.now())

	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(s.c.cfg.ConsumerHeartbeatInterval / time.Millisecond)
	full := req.MemberEpoch == joinMemberEpoch || (req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if full || force || !m.assigned.equal(before.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, tp := range m.assigned.byTopic() {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = tp.id, tp.partitions
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	if len(recs) == 0 {
		return nil
	}
	result := make(chan int16, 1)
	s.appendLocked(recs, func(_ int64, err error) { result <- s.groupWriteErrorCode(err) })
	return result
}
