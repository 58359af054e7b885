package group

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup returns the member's assignment for the current generation. The
// leader's SyncGroup carries everyone's assignment: it is stored in
// __consumer_offsets and, once replicated, delivered to every member that
// waits in SyncGroup and the group becomes Stable (Kafka's handleSyncGroup).
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp, wait := c.beginSync(req)
	if wait == nil {
		return resp
	}
	r, ok := await(ctx, wait)
	if !ok {
		r = syncResult{errCode: kerr.CoordinatorNotAvailable.Code}
	}
	r.fill(resp)
	return resp
}

func (c *Coordinator) beginSync(req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, <-chan syncResult) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) (*kmsg.SyncGroupResponse, <-chan syncResult) {
		syncResult{errCode: code}.fill(resp)
		return resp, nil
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	s, code := c.lockShard(req.Group)
	if code == kerr.CoordinatorLoadInProgress.Code {
		// The rebalance in progress was lost with the old coordinator:
		// have the member rejoin without rediscovering the coordinator
		// (older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here).
		return fail(kerr.RebalanceInProgress.Code)
	}
	if code != 0 {
		return fail(code)
	}
	defer s.mu.Unlock()
	g := s.groups[req.Group]
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	instanceID := req.InstanceID
	if req.Version < 3 {
		instanceID = nil
	}
	if code := g.validateCurrentMember(req.MemberID, instanceID); code != 0 {
		return fail(code)
	}
	switch {
	case req.Generation != g.generation:
		return fail(kerr.IllegalGeneration.Code)
	case req.ProtocolType != nil && (g.protocolType == "" || *req.ProtocolType != g.protocolType):
		return fail(kerr.InconsistentGroupProtocol.Code)
	case req.Protocol != nil && (g.protocol == "" || *req.Protocol != g.protocol):
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		s.removePendingSyncMemberLocked(g, m.id)
		syncResult{protocolType: optString(g.protocolType), protocol: optString(g.protocol), assignment: m.assignment}.fill(resp)
		s.scheduleSessionLocked(g, m, m.sessionTimeout())
		return resp, nil
	case stateCompletingRebalance:
		w := newSyncWaiter()
		if m.sync != nil {
			g.completeSync(m, syncResult{errCode: kerr.RebalanceInProgress.Code})
		}
		m.sync = w
		s.removePendingSyncMemberLocked(g, m.id)
		if g.leader == m.id {
			s.storeAssignmentLocked(g, req)
		}
		return resp, w.ch
	}
	return fail(kerr.UnknownMemberID.Code)
}

// storeAssignmentLocked persists the leader's assignment (members it left
// out get an empty one) and, once stored, completes the rebalance; a failed
// write answers every SyncGroup with its error and rebalances again.
func (s *shard) storeAssignmentLocked(g *group, req *kmsg.SyncGroupRequest) {
	assignment := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if _, ok := g.members[a.MemberID]; ok {
			assignment[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
	}
	for id := range g.members {
		if assignment[id] == nil {
			assignment[id] = []byte{}
		}
	}
	s.logger.Info("assignment received from leader", slog.String("group", g.id), slog.String("leader", req.MemberID),
		slog.Int("generation", int(g.generation)), slog.Int("members", len(g.members)))
	gen := g.generation
	s.storeGroupLocked(g, assignment, func(err error) {
		// Another member may have joined while the write was in flight:
		// only the same generation, still completing, takes the result.
		if !s.currentLocked(g) || g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		if err != nil {
			s.resetAndPropagateAssignmentErrorLocked(g, s.groupWriteErrorCode(err))
			s.maybePrepareRebalanceLocked(g, "error when storing group assignment during SyncGroup")
			return
		}
		s.setAndPropagateAssignmentLocked(g, assignment)
		g.transitionTo(stateStable, s.now())
	})
}

// Heartbeat keeps a member's session alive and tells it when a rebalance is
// under way (REBALANCE_IN_PROGRESS), as Kafka's handleHeartbeat.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	s, code := c.lockShard(req.Group)
	if code == kerr.CoordinatorLoadInProgress.Code {
		// The group is still loading: answer blindly, as Kafka does.
		return 0
	}
	if code != 0 {
		return code
	}
	defer s.mu.Unlock()
	g := s.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	instanceID := req.InstanceID
	if req.Version < 3 {
		instanceID = nil
	}
	if code := g.validateCurrentMember(req.MemberID, instanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateCompletingRebalance, stateStable:
		// A member may heartbeat between its join response and its
		// SyncGroup: that counts as a normal heartbeat.
		s.scheduleSessionLocked(g, m, m.sessionTimeout())
		return 0
	case statePreparingRebalance:
		s.scheduleSessionLocked(g, m, m.sessionTimeout())
		return kerr.RebalanceInProgress.Code
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup removes members (v0-v2: one member ID; v3+: a batch of member
// IDs or, for static members, group.instance.ids, each with its own error,
// KIP-345), rebalancing the group as Kafka's handleLeaveGroup.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	code, members := c.leaveGroup(req.Group, leaving)
	resp.ErrorCode = code
	if req.Version >= 3 {
		resp.Members = members
		return resp
	}
	// v0-v2 carry one error: the group's, else the member's.
	if code == 0 && len(members) > 0 {
		resp.ErrorCode = members[0].ErrorCode
	}
	return resp
}

func (c *Coordinator) leaveGroup(groupID string, leaving []kmsg.LeaveGroupRequestMember) (int16, []kmsg.LeaveGroupResponseMember) {
	if groupID == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	s, code := c.lockShard(groupID)
	if code != 0 {
		return code, nil
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	out := make([]kmsg.LeaveGroupResponseMember, 0, len(leaving))
	for _, lm := range leaving {
		r := kmsg.NewLeaveGroupResponseMember()
		r.MemberID, r.InstanceID = lm.MemberID, lm.InstanceID
		if g == nil {
			r.ErrorCode = kerr.UnknownMemberID.Code
		} else {
			r.ErrorCode = s.leaveMemberLocked(g, lm)
		}
		out = append(out, r)
	}
	return 0, out
}

// leaveMemberLocked removes one leaving member.
func (s *shard) leaveMemberLocked(g *group, lm kmsg.LeaveGroupRequestMember) int16 {
	reason := "not provided"
	if lm.Reason != nil {
		reason = *lm.Reason
	}
	if lm.MemberID == "" {
		// Administrative removal of a static member by its instance ID.
		if lm.InstanceID == nil {
			return kerr.UnknownMemberID.Code
		}
		id, ok := g.static[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		s.removeMemberAndUpdateGroupLocked(g, g.members[id], "removing member on LeaveGroup; client reason: "+reason)
		return 0
	}
	if _, ok := g.pending[lm.MemberID]; ok {
		g.remove(lm.MemberID)
		if g.state == statePreparingRebalance {
			s.maybeCompleteJoinLocked(g)
		}
		return 0
	}
	if code := g.validateCurrentMember(lm.MemberID, lm.InstanceID); code != 0 {
		return code
	}
	s.removeMemberAndUpdateGroupLocked(g, g.members[lm.MemberID], "removing member on LeaveGroup; client reason: "+reason)
	return 0
}

// removeMemberAndUpdateGroupLocked removes m and rebalances the rest (Kafka's
// removeMemberAndUpdateGroup): a parked JoinGroup of m is answered
// UNKNOWN_MEMBER_ID so that a client still there rejoins.
func (s *shard) removeMemberAndUpdateGroupLocked(g *group, m *member, reason string) {
	s.logger.Info("removing member from group", slog.String("group", g.id), slog.String("member_id", m.id),
		slog.String("reason", reason))
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalanceLocked(g, reason)
	case statePreparingRebalance:
		s.maybeCompleteJoinLocked(g)
	}
}

// expireSessionLocked handles a member whose session timer fired (Kafka's
// onExpireHeartbeat): a member waiting in JoinGroup or SyncGroup counts as
// alive (the rebalance restarts its session when it answers), except a new
// member, which is dropped after its join timeout.
func (s *shard) expireSessionLocked(g *group, m *member) {
	if !m.isNew && (m.join != nil || m.sync != nil) {
		return
	}
	s.removeMemberAndUpdateGroupLocked(g, m, "removing member on heartbeat expiration")
}
