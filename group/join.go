package group

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup adds or updates a member and waits until the rebalance it joins
// completes (Kafka's handleJoinGroup). Versions 4+ without a member ID get
// MEMBER_ID_REQUIRED and a member ID to rejoin with (KIP-394); static
// members (group.instance.id, KIP-345) replace their previous member ID.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp, wait := c.beginJoin(req, clientFrom(ctx))
	if wait == nil {
		return resp
	}
	r, ok := await(ctx, wait)
	if !ok {
		r = joinError(req.MemberID, kerr.CoordinatorNotAvailable.Code)
	}
	r.fill(resp)
	return resp
}

// beginJoin does JoinGroup up to the wait: it returns the response when the
// answer is immediate, or the channel the answer will arrive on.
func (c *Coordinator) beginJoin(req *kmsg.JoinGroupRequest, client clientInfo) (*kmsg.JoinGroupResponse, <-chan joinResult) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if req.Group == "" {
		joinError(req.MemberID, kerr.InvalidGroupID.Code).fill(resp)
		return resp, nil
	}
	if st := msDuration(req.SessionTimeoutMillis); st < c.cfg.MinSessionTimeout || st > c.cfg.MaxSessionTimeout {
		joinError(req.MemberID, kerr.InvalidSessionTimeout.Code).fill(resp)
		return resp, nil
	}
	s, code := c.lockShard(req.Group)
	if code != 0 {
		joinError(req.MemberID, code).fill(resp)
		return resp, nil
	}
	defer s.mu.Unlock()
	r, w := s.joinLocked(req, client)
	if w != nil {
		return resp, w.ch
	}
	r.fill(resp)
	return resp, nil
}

// joinParams are the parts of a JoinGroup a member keeps, copied out of the
// request buffer.
type joinParams struct {
	version            int16
	instanceID         *string
	protocolType       string
	protocols          []protocol
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	client             clientInfo
}

func newJoinParams(req *kmsg.JoinGroupRequest, client clientInfo) joinParams {
	p := joinParams{
		version:            req.Version,
		instanceID:         req.InstanceID,
		protocolType:       req.ProtocolType,
		protocols:          copyProtocols(req.Protocols),
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		sessionTimeoutMs:   req.SessionTimeoutMillis,
		client:             client,
	}
	if req.Version == 0 || p.rebalanceTimeoutMs < 0 {
		// v0 has no rebalance timeout: the session timeout served both.
		p.rebalanceTimeoutMs = p.sessionTimeoutMs
	}
	if req.Version < 5 {
		p.instanceID = nil
	}
	return p
}

func (s *shard) joinLocked(req *kmsg.JoinGroupRequest, client clientInfo) (joinResult, *joinWaiter) {
	memberID := req.MemberID
	unknown := memberID == ""
	g := s.groups[req.Group]
	if g != nil && g.consumer != nil {
		if code := s.classicJoinConsumerGroupLocked(g); code != 0 {
			return joinError(memberID, code), nil
		}
	}
	if g == nil {
		// Only a member without ID creates the group; a member ID for a
		// group that does not exist is stale.
		if !unknown {
			return joinError(memberID, kerr.UnknownMemberID.Code), nil
		}
		g = newGroup(req.Group, s.now())
		s.groups[g.id] = g
		defer func() {
			// A first join that failed leaves nothing behind.
			if s.groups[g.id] == g && g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && !g.hasOffsets() {
				delete(s.groups, g.id)
			}
		}()
	}
	p := newJoinParams(req, client)
	if !s.acceptJoiningMemberLocked(g, memberID) {
		g.remove(memberID)
		if g.state == statePreparingRebalance {
			s.maybeCompleteJoinLocked(g)
		}
		return joinError("", kerr.GroupMaxSizeReached.Code), nil
	}
	var r joinResult
	var w *joinWaiter
	if unknown {
		r, w = s.newMemberJoinLocked(g, req, p)
	} else {
		r, w = s.currentMemberJoinLocked(g, req, p)
	}
	if g.state == statePreparingRebalance {
		s.maybeCompleteJoinLocked(g)
	}
	return r, w
}

// acceptJoiningMemberLocked applies group.max.size as Kafka's
// acceptJoiningMember: an Empty group accepts anyone; while preparing a
// rebalance, a member already waiting is accepted and others only while
// fewer than the maximum wait (so that a lowered maximum sheds the last
// rejoining members); otherwise an existing member is accepted and a new one
// only below the maximum.
func (s *shard) acceptJoiningMemberLocked(g *group, memberID string) bool {
	maxSize := s.c.cfg.MaxSize
	m, has := g.members[memberID]
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		return (has && m.join != nil) || g.awaitingJoin < maxSize
	default:
		return has || len(g.members) < maxSize
	}
}

// newMemberJoinLocked handles a JoinGroup without member ID (Kafka's
// doNewMemberJoinGroup).
func (s *shard) newMemberJoinLocked(g *group, req *kmsg.JoinGroupRequest, p joinParams) (joinResult, *joinWaiter) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError("", kerr.InconsistentGroupProtocol.Code), nil
	}
	newID := newMemberID(p.client.id, p.instanceID)
	if p.instanceID != nil {
		if oldID, ok := g.static[*p.instanceID]; ok {
			s.logger.Info("static member rejoins with unknown member id, replacing the old member id",
				slog.String("group", g.id), slog.String("instance_id", *p.instanceID),
				slog.String("old_member_id", oldID), slog.String("member_id", newID))
			return s.updateStaticMemberAndRebalanceLocked(g, oldID, newID, p)
		}
		return s.addMemberAndRebalanceLocked(g, newID, p)
	}
	if p.version >= 4 {
		// KIP-394: hand out the ID and have the client rejoin with it,
		// so that a client that never receives the response leaves no
		// member behind, only a pending ID that expires.
		s.addPendingMemberLocked(g, newID, msDuration(p.sessionTimeoutMs))
		return joinError(newID, kerr.MemberIDRequired.Code), nil
	}
	return s.addMemberAndRebalanceLocked(g, newID, p)
}

// currentMemberJoinLocked handles a JoinGroup with a member ID (Kafka's
// doCurrentMemberJoinGroup).
func (s *shard) currentMemberJoinLocked(g *group, req *kmsg.JoinGroupRequest, p joinParams) (joinResult, *joinWaiter) {
	memberID := req.MemberID
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError(memberID, kerr.InconsistentGroupProtocol.Code), nil
	}
	if _, ok := g.pending[memberID]; ok {
		if p.instanceID != nil {
			// Pending IDs are only handed to dynamic members.
			return joinError(memberID, kerr.UnknownMemberID.Code), nil
		}
		return s.addMemberAndRebalanceLocked(g, memberID, p)
	}
	if code := g.validateCurrentMember(memberID, p.instanceID); code != 0 {
		return joinError(memberID, code), nil
	}
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		return s.updateMemberAndRebalanceLocked(g, m, p, "member joining group during PreparingRebalance")
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// The member lost its join response: answer it again.
			return s.currentGenerationLocked(g, m.id, g.leader == m.id), nil
		}
		return s.updateMemberAndRebalanceLocked(g, m, p, "updating metadata of member during CompletingRebalance")
	case stateStable:
		if g.leader == m.id {
			// The leader rejoins to have the group reassigned (topic
			// metadata changes the member metadata does not show).
			return s.updateMemberAndRebalanceLocked(g, m, p, "leader re-joining group during Stable")
		}
		if !m.matches(req.Protocols) {
			return s.updateMemberAndRebalanceLocked(g, m, p, "updating metadata of member during Stable")
		}
		return s.currentGenerationLocked(g, m.id, false), nil
	}
	return joinError(memberID, kerr.UnknownMemberID.Code), nil
}

// currentGenerationLocked is the join answer for the current generation;
// the leader's carries the members.
func (s *shard) currentGenerationLocked(g *group, memberID string, withMembers bool) joinResult {
	r := joinResult{memberID: memberID, generation: g.generation, protocolType: optString(g.protocolType),
		protocol: optString(g.protocol), leader: g.leader, members: []kmsg.JoinGroupResponseMember{}}
	if withMembers {
		r.members = g.currentMemberMetadata()
	}
	return r
}

// addPendingMemberLocked records a member ID handed out with
// MEMBER_ID_REQUIRED; it expires after the session timeout unless its owner
// joins.
func (s *shard) addPendingMemberLocked(g *group, id string, sessionTimeout time.Duration) {
	g.pending[id] = s.afterFuncLocked(sessionTimeout, func() {
		if !s.currentLocked(g) {
			return
		}
		if _, ok := g.pending[id]; !ok {
			return
		}
		s.logger.Info("pending member has been removed after session timeout expiration",
			slog.String("group", g.id), slog.String("member_id", id))
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			s.maybeCompleteJoinLocked(g)
		}
	})
}

// addMemberAndRebalanceLocked adds a new member, its JoinGroup parked, and
// starts or extends a rebalance (Kafka's addMemberAndRebalance).
func (s *shard) addMemberAndRebalanceLocked(g *group, id string, p joinParams) (joinResult, *joinWaiter) {
	m := &member{
		id:                 id,
		instanceID:         p.instanceID,
		clientID:           p.client.id,
		clientHost:         p.client.host,
		rebalanceTimeoutMs: p.rebalanceTimeoutMs,
		sessionTimeoutMs:   p.sessionTimeoutMs,
		protocolType:       p.protocolType,
		protocols:          p.protocols,
		isNew:              true,
	}
	// A member that joins during the initial rebalance extends its delay.
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true
	}
	w := newJoinWaiter()
	g.add(m, w)
	s.scheduleSessionLocked(g, m, newMemberJoinTimeout)
	s.maybePrepareRebalanceLocked(g, fmt.Sprintf("adding new member %s", id))
	return joinResult{}, w
}

// updateMemberAndRebalanceLocked takes a known member's rejoin and starts a
// rebalance if none is under way.
func (s *shard) updateMemberAndRebalanceLocked(g *group, m *member, p joinParams, reason string) (joinResult, *joinWaiter) {
	w := newJoinWaiter()
	g.updateMember(m, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, w)
	s.maybePrepareRebalanceLocked(g, reason+" "+m.id)
	return joinResult{}, w
}

// updateStaticMemberAndRebalanceLocked replaces a static member's ID (Kafka's
// updateStaticMemberAndRebalance). In a Stable group whose protocol would not
// change, no rebalance happens: the group is stored with the new ID and the
// member gets its old assignment back on SyncGroup; the leader learns, from
// v9, that it leads but must not reassign (SkipAssignment, KIP-814), and
// before v9 is told the old leader ID so that it does not assign.
func (s *shard) updateStaticMemberAndRebalanceLocked(g *group, oldID, newID string, p joinParams) (joinResult, *joinWaiter) {
	instanceID := *p.instanceID
	currentLeader := g.leader
	m := g.replaceStaticMember(instanceID, oldID, newID)
	s.scheduleSessionLocked(g, m, m.sessionTimeout())
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs
	w := newJoinWaiter()
	g.updateMember(m, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, w)

	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			s.maybePrepareRebalanceLocked(g, "static member "+newID+" joined with a change of protocol")
			return joinResult{}, w
		}
		s.storeGroupLocked(g, nil, func(err error) {
			if !s.currentLocked(g) || g.members[newID] != m {
				if err != nil {
					g.completeJoin(m, joinError("", s.groupWriteErrorCode(err)))
				}
				return
			}
			if err != nil {
				// Revert to the old member ID, which stays in the log.
				code := s.groupWriteErrorCode(err)
				g.updateMember(m, oldProtocols, oldRebalance, oldSession, nil)
				w.complete(joinResult{errCode: code, generation: g.generation, protocolType: optString(g.protocolType),
					protocol: optString(g.protocol), leader: currentLeader})
				old := g.replaceStaticMember(instanceID, newID, oldID)
				s.scheduleSessionLocked(g, old, old.sessionTimeout())
				return
			}
			if p.version >= 9 {
				isLeader := g.leader == newID
				r := s.currentGenerationLocked(g, newID, isLeader)
				r.skipAssignment = isLeader
				g.completeJoin(m, r)
				return
			}
			r := s.currentGenerationLocked(g, newID, false)
			r.leader = currentLeader
			g.completeJoin(m, r)
		})
	case stateCompletingRebalance:
		// The leader may already assign to the old ID: rebalance so that
		// the new ID gets an assignment.
		s.prepareRebalanceLocked(g, "updating metadata of static member "+newID)
	case statePreparingRebalance:
		// The rebalance under way includes the member.
	default:
		// A static member implies members: the group cannot be Empty.
		g.completeJoin(m, joinError(newID, kerr.UnknownMemberID.Code))
	}
	return joinResult{}, w
}

// maybePrepareRebalanceLocked starts a rebalance unless one is under way.
func (s *shard) maybePrepareRebalanceLocked(g *group, reason string) {
	if g.canRebalance() {
		s.prepareRebalanceLocked(g, reason)
	}
}

// prepareRebalanceLocked moves g to PreparingRebalance (Kafka's
// prepareRebalance): members waiting in SyncGroup are told
// REBALANCE_IN_PROGRESS, and the join phase ends when every member has
// rejoined or the rebalance timeout passes. The first rebalance of an Empty
// group is delayed by group.initial.rebalance.delay.ms, extended while new
// members keep joining, up to the rebalance timeout (Kafka's
// InitialDelayedJoin), so that a starting group settles in one rebalance.
func (s *shard) prepareRebalanceLocked(g *group, reason string) {
	if g.state == stateCompletingRebalance {
		s.resetAndPropagateAssignmentErrorLocked(g, kerr.RebalanceInProgress.Code)
	}
	s.removeSyncExpirationLocked(g)
	initial := g.state == stateEmpty
	g.transitionTo(statePreparingRebalance, s.now())
	s.logger.Info("preparing to rebalance group", slog.String("group", g.id),
		slog.Int("generation", int(g.generation)), slog.String("reason", reason))
	if initial {
		delay := s.c.cfg.InitialRebalanceDelay
		if delay <= 0 {
			s.completeJoinLocked(g)
			return
		}
		s.scheduleInitialJoinLocked(g, delay, max(g.rebalanceTimeout()-delay, 0))
		return
	}
	if g.hasAllMembersJoined() {
		s.completeJoinLocked(g)
		return
	}
	s.setJoinTimerLocked(g, g.rebalanceTimeout(), func() { s.completeJoinLocked(g) })
}

// scheduleInitialJoinLocked is one step of Kafka's InitialDelayedJoin: when
// it fires and members joined meanwhile, wait again (at most the remaining
// rebalance timeout); otherwise complete the join.
func (s *shard) scheduleInitialJoinLocked(g *group, delay, remaining time.Duration) {
	s.setJoinTimerLocked(g, delay, func() {
		if g.newMemberAdded && remaining != 0 {
			g.newMemberAdded = false
			next := min(s.c.cfg.InitialRebalanceDelay, remaining)
			s.scheduleInitialJoinLocked(g, next, max(remaining-delay, 0))
			return
		}
		s.completeJoinLocked(g)
	})
}

// maybeCompleteJoinLocked ends the join phase once every member has
// rejoined, except during the initial delayed rebalance, which always waits
// out its delay.
func (s *shard) maybeCompleteJoinLocked(g *group) {
	if g.state != statePreparingRebalance || g.prevState == stateEmpty || !g.hasAllMembersJoined() {
		return
	}
	s.completeJoinLocked(g)
}

// completeJoinLocked ends the join phase (Kafka's onCompleteJoin): dynamic
// members that did not rejoin are removed, the next generation starts, and
// every member gets its JoinGroup answer (the leader with the member list);
// the group then waits for SyncGroup from all of them within the rebalance
// timeout. A group left without members becomes Empty and is stored.
func (s *shard) completeJoinLocked(g *group) {
	s.stopJoinTimerLocked(g)
	for _, id := range g.sortedMemberIDs() {
		if m := g.members[id]; m.join == nil && m.instanceID == nil {
			s.logger.Info("removing member that did not rejoin", slog.String("group", g.id), slog.String("member_id", id))
			g.remove(id)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait
		// another rebalance timeout for them or for their sessions to end.
		s.logger.Error("group could not complete rebalance because no members rejoined", slog.String("group", g.id))
		s.setJoinTimerLocked(g, g.rebalanceTimeout(), func() { s.completeJoinLocked(g) })
		return
	}
	g.initNextGeneration(s.now())
	if g.state == stateEmpty {
		s.logger.Info("group is now empty", slog.String("group", g.id), slog.Int("generation", int(g.generation)))
		s.storeGroupLocked(g, map[string][]byte{}, func(err error) {
			if err != nil {
				// The previous generation stays in the log; with no
				// members left that is harmless, as in Kafka.
				s.logger.Warn("failed to write empty metadata for group", slog.String("group", g.id), slog.Any("error", err))
			}
		})
		return
	}
	s.logger.Info("stabilized group", slog.String("group", g.id), slog.Int("generation", int(g.generation)),
		slog.Int("members", len(g.members)), slog.String("protocol", g.protocol))
	members := g.currentMemberMetadata()
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		r := s.currentGenerationLocked(g, id, false)
		if id == g.leader {
			r.members = members
		}
		g.completeJoin(m, r)
		s.scheduleSessionLocked(g, m, m.sessionTimeout())
		m.isNew = false
		g.pendingSync[id] = struct{}{}
	}
	gen := g.generation
	s.setSyncTimerLocked(g, g.rebalanceTimeout(), func() { s.expirePendingSyncLocked(g, gen) })
}

// expirePendingSyncLocked removes the members that did not send SyncGroup
// within the rebalance timeout and rebalances (Kafka's onExpirePendingSync).
func (s *shard) expirePendingSyncLocked(g *group, generation int32) {
	if generation != g.generation || len(g.pendingSync) == 0 {
		return
	}
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	ids := make([]string, 0, len(g.pendingSync))
	for id := range g.pendingSync {
		ids = append(ids, id)
	}
	for _, id := range ids {
		g.remove(id)
	}
	s.logger.Info("removed members who did not sync", slog.String("group", g.id), slog.Any("members", ids))
	s.prepareRebalanceLocked(g, "removing members on pending sync request expiration")
}

// removeSyncExpirationLocked forgets the pending syncs of the generation.
func (s *shard) removeSyncExpirationLocked(g *group) {
	clear(g.pendingSync)
	s.stopSyncTimerLocked(g)
}

// removePendingSyncMemberLocked notes that id sent SyncGroup; once all did,
// the pending-sync timer is no longer needed.
func (s *shard) removePendingSyncMemberLocked(g *group, id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		s.stopSyncTimerLocked(g)
	}
}

// resetAndPropagateAssignmentErrorLocked answers every parked SyncGroup with
// code and clears the assignments.
func (s *shard) resetAndPropagateAssignmentErrorLocked(g *group, code int16) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	s.propagateAssignmentLocked(g, code)
}

// setAndPropagateAssignmentLocked installs the leader's assignment and
// answers every parked SyncGroup with it.
func (s *shard) setAndPropagateAssignmentLocked(g *group, assignment map[string][]byte) {
	for id, m := range g.members {
		m.assignment = assignment[id]
		if m.assignment == nil {
			m.assignment = []byte{}
		}
	}
	s.propagateAssignmentLocked(g, 0)
}

// propagateAssignmentLocked answers the parked SyncGroups and restarts their
// members' sessions: an expiry that fired while they waited was ignored.
func (s *shard) propagateAssignmentLocked(g *group, code int16) {
	var ptype, proto *string
	if code == 0 {
		ptype, proto = optString(g.protocolType), optString(g.protocol)
	}
	for _, m := range g.members {
		if g.completeSync(m, syncResult{errCode: code, protocolType: ptype, protocol: proto, assignment: m.assignment}) {
			s.scheduleSessionLocked(g, m, m.sessionTimeout())
		}
	}
}
