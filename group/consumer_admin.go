package group

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe describes KIP-848 consumer groups (Kafka's
// GroupMetadataManager.consumerGroupDescribe): state, group epoch,
// assignment epoch, assignor, and each member with its subscription,
// current and target assignment. A group that does not exist, or is a
// classic group, is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ConsumerGroupDescribe(_ context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		c.describeConsumerGroup(id, req.Version, &dg)
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeConsumerGroup(id string, version int16, dg *kmsg.ConsumerGroupDescribeResponseGroup) {
	if id == "" {
		dg.ErrorCode = kerr.InvalidGroupID.Code
		return
	}
	s, code := c.lockShard(id)
	if code != 0 {
		dg.ErrorCode = code
		return
	}
	defer s.mu.Unlock()
	g := s.groups[id]
	if g == nil || g.consumer == nil {
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		msg := fmt.Sprintf("Group %s not found.", id)
		if g != nil {
			msg = fmt.Sprintf("Group %s is not a consumer group.", id)
		}
		dg.ErrorMessage = kmsg.StringPtr(msg)
		return
	}
	cg := g.consumer
	dg.State = cg.state()
	dg.Epoch = cg.epoch
	dg.AssignmentEpoch = cg.assignmentEpoch
	dg.AssignorName = cg.preferredAssignor()
	for _, mid := range cg.sortedMemberIDs() {
		m := cg.members[mid]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = append([]string{}, m.subscribedNames...)
		dm.SubscribedTopicRegex = m.subscribedRegex
		dm.Assignment = cg.describeAssignment(m.assigned)
		dm.TargetAssignment = cg.describeAssignment(cg.target[m.id])
		if version >= 1 {
			dm.MemberType = 1 // a consumer-protocol member
		}
		dg.Members = append(dg.Members, dm)
	}
}

func (cg *consumerGroup) describeAssignment(ps partSet) kmsg.Assignment {
	a := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, tp := range ps.byTopic() {
		t := kmsg.AssignmentTopicPartition{TopicID: tp.id, Topic: cg.topicName(tp.id), Partitions: tp.partitions}
		a.TopicPartitions = append(a.TopicPartitions, t)
	}
	return a
}

// typeAndState are a group's type and state as ListGroups reports them.
func (g *group) typeAndState() (string, string) {
	if g.consumer != nil {
		return "consumer", g.consumer.state()
	}
	return "classic", g.state.String()
}

// classicJoinConsumerGroupLocked handles a JoinGroup for a consumer group:
// with members it is INCONSISTENT_GROUP_PROTOCOL (Kafka 4 without online
// migration); an empty one is deleted (its offsets kept), so that the
// classic join creates a classic group in its place.
func (s *shard) classicJoinConsumerGroupLocked(g *group) int16 {
	if len(g.consumer.members) > 0 {
		return kerr.InconsistentGroupProtocol.Code
	}
	recs := consumerGroupTombstones(g.id, g.consumer)
	g.consumer = nil
	g.protocolType = ""
	g.subscribed = nil
	s.appendLocked(recs, func(_ int64, err error) {
		if err != nil {
			s.logger.Warn("writing the tombstones of a converted consumer group failed", slog.String("group", g.id), slog.Any("error", err))
		}
	})
	return 0
}

// validateConsumerOffsetCommit is Kafka's ConsumerGroup.validateOffsetCommit
// for a non-transactional commit: without members anyone may commit with
// epoch -1 (admin tools); otherwise the member must exist, commit with
// OffsetCommit v9+ and its current member epoch (the generation field).
func validateConsumerOffsetCommit(g *group, epoch int32, memberID string, version int16) int16 {
	cg := g.consumer
	if epoch < 0 && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case version < 9:
		return kerr.UnsupportedVersion.Code
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// validateConsumerOffsetFetch is Kafka's ConsumerGroup.validateOffsetFetch
// for OffsetFetch v9+: a request with a member ID must come from a member of
// a consumer group with its current epoch (UNKNOWN_MEMBER_ID,
// STALE_MEMBER_EPOCH); one without (admin tools) is accepted, as is any
// fetch for a classic group.
func (c *Coordinator) validateConsumerOffsetFetch(groupID string, memberID *string, epoch int32) int16 {
	if memberID == nil {
		return 0
	}
	s, code := c.lockShard(groupID)
	if code != 0 {
		return code
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil || g.consumer == nil {
		return 0
	}
	m := g.consumer.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}
