package group

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAuthorizedOperations is what DescribeGroups reports when asked
// (v3+): without an authorizer Kafka allows every operation a group
// supports, READ, DELETE and DESCRIBE, as a bit set of ACL operation codes.
const groupAuthorizedOperations = 1<<int32(kmsg.ACLOperationRead) | 1<<int32(kmsg.ACLOperationDelete) |
	1<<int32(kmsg.ACLOperationDescribe)

// DescribeGroups describes groups this node coordinates: state, protocol
// and members, with their metadata and assignment only while Stable (Kafka's
// GroupMetadata.summary). A group that does not exist is "Dead", and from v6
// also GROUP_ID_NOT_FOUND.
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		c.describeGroup(id, req.Version, &dg)
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeGroup(id string, version int16, dg *kmsg.DescribeGroupsResponseGroup) {
	// An empty group ID is valid here, so that any stored state can be
	// seen (Kafka's isValidGroupId).
	s, code := c.lockShard(id)
	if code != 0 {
		dg.ErrorCode = code
		return
	}
	defer s.mu.Unlock()
	g := s.groups[id]
	if g == nil || g.consumer != nil {
		// Kafka 4 describes only classic groups here; a consumer group
		// is described by ConsumerGroupDescribe.
		dg.State = stateDead.String()
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := fmt.Sprintf("Group %s not found.", id)
			if g != nil {
				msg = fmt.Sprintf("Group %s is not a classic group.", id)
			}
			dg.ErrorMessage = kmsg.StringPtr(msg)
		}
		return
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, mid := range g.sortedMemberIDs() {
		m := g.members[mid]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
}

// ListGroups lists the groups of every partition this node leads, filtered
// by state (v4+, case-insensitive) and type (v5+: these are all "classic"
// groups). While a partition loads the answer is
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka 4's.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := make(map[string]bool, len(req.StatesFilter))
	for _, st := range req.StatesFilter {
		states[strings.ToLower(st)] = true
	}
	types := make(map[string]bool, len(req.TypesFilter))
	for _, t := range req.TypesFilter {
		types[strings.ToLower(t)] = true
	}
	var groups []kmsg.ListGroupsResponseGroup
	for _, s := range c.allShards() {
		s.mu.Lock()
		if s.status == shardLoading {
			s.mu.Unlock()
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp
		}
		if s.status == shardActive {
			for _, g := range s.groups {
				typ, state := g.typeAndState()
				if len(states) > 0 && !states[strings.ToLower(state)] || len(types) > 0 && !types[typ] {
					continue
				}
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, state, typ
				groups = append(groups, lg)
			}
		}
		s.mu.Unlock()
	}
	slices.SortFunc(groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	resp.Groups = groups
	return resp
}

// DeleteGroups deletes Empty groups with their offsets: tombstones for every
// offset and for the group are written, and each group is answered once its
// tombstones are replicated. A group with members is NON_EMPTY_GROUP, an
// unknown one GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	waits := make([]<-chan int16, len(req.Groups))
	for i, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode, waits[i] = c.beginDeleteGroup(id)
		resp.Groups = append(resp.Groups, dg)
	}
	for i, w := range waits {
		if w == nil {
			continue
		}
		code, ok := await(ctx, w)
		if !ok {
			code = kerr.CoordinatorNotAvailable.Code
		}
		resp.Groups[i].ErrorCode = code
	}
	return resp
}

func (c *Coordinator) beginDeleteGroup(id string) (int16, <-chan int16) {
	s, code := c.lockShard(id)
	if code != 0 {
		return code, nil
	}
	defer s.mu.Unlock()
	g := s.groups[id]
	switch {
	case g == nil || g.state == stateDead:
		return kerr.GroupIDNotFound.Code, nil
	case g.state != stateEmpty:
		return kerr.NonEmptyGroup.Code, nil
	}
	recs := s.deleteGroupLocked(g)
	s.logger.Info("deleted group", slog.String("group", id), slog.Int("offsets", len(recs)-1))
	result := make(chan int16, 1)
	s.appendLocked(recs, func(_ int64, err error) { result <- s.groupWriteErrorCode(err) })
	return 0, result
}

// deleteGroupLocked removes an Empty group and its offsets from memory and
// returns the tombstones that delete them from the log: the offsets first,
// then the group, as Kafka writes them.
func (s *shard) deleteGroupLocked(g *group) []coordinatorRecord {
	recs := make([]coordinatorRecord, 0, len(g.offsets)+len(g.pendingCommits)+1)
	seen := make(map[topicPartition]bool)
	for _, tp := range sortedOffsets(g) {
		recs = append(recs, offsetCommitRecord(g.id, tp, nil))
		seen[tp] = true
	}
	for tp := range g.pendingCommits {
		if !seen[tp] {
			recs = append(recs, offsetCommitRecord(g.id, tp, nil))
		}
	}
	if g.consumer != nil {
		recs = append(recs, consumerGroupTombstones(g.id, g.consumer)...)
	} else {
		recs = append(recs, groupTombstone(g.id))
	}
	s.unloadGroupLocked(g)
	delete(s.groups, g.id)
	return recs
}
