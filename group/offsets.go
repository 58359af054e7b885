package group

import (
	"context"
	"log/slog"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit stores offsets for a group and answers once they are
// replicated to the ISR of the group's __consumer_offsets partition (Kafka's
// handleCommitOffsets). Members commit with their generation; a commit with
// generation -1 (a "simple" consumer or the admin client) is accepted only
// while the group has no members, and creates the group if needed. Committed
// offsets become visible to OffsetFetch once replicated.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp, wait := c.beginCommit(req)
	if wait == nil {
		return resp
	}
	codes, ok := await(ctx, wait)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			if p.ErrorCode != pendingCode {
				continue
			}
			p.ErrorCode = kerr.CoordinatorNotAvailable.Code
			if ok {
				p.ErrorCode = codes
			}
		}
	}
	return resp
}

// pendingCode marks the response partitions whose outcome is the write's.
const pendingCode = -2

// beginCommit validates the commit and appends it: it returns the response,
// complete when nothing was written, else with the written partitions marked
// pendingCode and the channel their common outcome arrives on.
func (c *Coordinator) beginCommit(req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, <-chan int16) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// The response lists every requested partition in request order;
	// valid ones start as pending and get the group's outcome.
	var valid []*kmsg.OffsetCommitResponseTopicPartition
	var validReq []kmsg.OffsetCommitRequestTopicPartition
	var validTopic []string
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = pendingCode
			if c.cfg.TopicExists != nil && !c.cfg.TopicExists(rt.Topic, rp.Partition) {
				// Kafka's handler answers unknown partitions itself.
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			if sp := &resp.Topics[i].Partitions[j]; sp.ErrorCode == pendingCode {
				valid = append(valid, sp)
				validReq = append(validReq, rp)
				validTopic = append(validTopic, rt.Topic)
			}
		}
	}
	if len(valid) == 0 {
		return resp, nil
	}
	failAll := func(code int16) (*kmsg.OffsetCommitResponse, <-chan int16) {
		for _, sp := range valid {
			sp.ErrorCode = code
		}
		return resp, nil
	}
	// An empty group ID is valid for commits, for compatibility (Kafka's
	// isValidGroupId).
	s, code := c.lockShard(req.Group)
	if code != 0 {
		return failAll(code)
	}
	defer s.mu.Unlock()

	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			// A member of a group that is gone: v9 says so, older
			// versions keep their ILLEGAL_GENERATION.
			if req.Version >= 9 {
				return failAll(kerr.GroupIDNotFound.Code)
			}
			return failAll(kerr.IllegalGeneration.Code)
		}
		g = newGroup(req.Group, s.now())
		s.groups[g.id] = g
	}
	instanceID := req.InstanceID
	if req.Version < 7 {
		instanceID = nil
	}
	code = 0
	if g.consumer != nil {
		code = validateConsumerOffsetCommit(g, req.Generation, req.MemberID, req.Version)
	} else {
		code = s.validateOffsetCommitLocked(g, req.Generation, req.MemberID, instanceID)
	}
	if code != 0 {
		return failAll(code)
	}
	switch g.state {
	case stateCompletingRebalance:
		// The member has the new generation from its join response but
		// no assignment yet.
		return failAll(kerr.RebalanceInProgress.Code)
	case stateStable, statePreparingRebalance:
		// Commits keep the session alive; during PreparingRebalance
		// heartbeats tell the member to rejoin.
		if m := g.members[req.MemberID]; m != nil {
			s.scheduleSessionLocked(g, m, m.sessionTimeout())
		}
	}

	now := s.now().UnixMilli()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = now + req.RetentionTimeMillis
	}
	var recs []coordinatorRecord
	var items []commitItem
	for i, rp := range validReq {
		md := ""
		if rp.Metadata != nil {
			md = *rp.Metadata
		}
		if utf16Len(md) > s.c.cfg.OffsetMetadataMaxBytes {
			valid[i].ErrorCode = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		epoch := int32(-1)
		if req.Version >= 6 {
			epoch = rp.LeaderEpoch
		}
		tp := topicPartition{topic: validTopic[i], partition: rp.Partition}
		o := &committedOffset{offset: rp.Offset, leaderEpoch: epoch, metadata: md, commitTime: now, expireTime: expire}
		tok := new(inflight)
		if g.pendingCommits[tp] == nil {
			g.pendingCommits[tp] = make(map[*inflight]struct{})
		}
		g.pendingCommits[tp][tok] = struct{}{}
		items = append(items, commitItem{tp: tp, offset: o, token: tok, index: len(recs)})
		recs = append(recs, offsetCommitRecord(g.id, tp, o))
	}
	if len(recs) == 0 {
		return resp, nil
	}
	result := make(chan int16, 1)
	s.appendLocked(recs, func(base int64, err error) {
		s.completeCommitLocked(g, items, base, err)
		result <- s.commitErrorCode(err)
	})
	return resp, result
}

// commitItem is one offset of a commit in flight.
type commitItem struct {
	tp     topicPartition
	offset *committedOffset
	token  *inflight
	index  int // of the record in the batch
}

// completeCommitLocked applies a replicated commit (Kafka's
// onOffsetCommitAppend): an offset deleted meanwhile stays deleted, and a
// later record already applied wins.
func (s *shard) completeCommitLocked(g *group, items []commitItem, base int64, err error) {
	current := s.currentLocked(g)
	for _, it := range items {
		toks := g.pendingCommits[it.tp]
		_, live := toks[it.token]
		if live {
			delete(toks, it.token)
			if len(toks) == 0 {
				delete(g.pendingCommits, it.tp)
			}
		}
		if err != nil || !live || !current {
			continue
		}
		it.offset.recordOffset = base + int64(it.index)
		if cur := g.offsets[it.tp]; cur == nil || cur.recordOffset < it.offset.recordOffset {
			g.offsets[it.tp] = it.offset
		}
	}
}

// validateOffsetCommitLocked is Kafka's validateOffsetCommit for a
// non-transactional commit.
func (s *shard) validateOffsetCommitLocked(g *group, generation int32, memberID string, instanceID *string) int16 {
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case generation < 0 && g.state == stateEmpty:
		// The admin client, or a consumer without group management.
		return 0
	case generation >= 0 || memberID != "" || instanceID != nil:
		if code := g.validateCurrentMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	// Without member ID and generation only an Empty group takes commits.
	return kerr.UnknownMemberID.Code
}

// utf16Len is Java's String.length, which offset.metadata.max.bytes bounds.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// OffsetFetch returns committed offsets: v0-v7 for one group (Topics nil:
// all of them), v8+ for many. A group that does not exist has no offsets
// (-1), as in Kafka; with require_stable (v7+) the answer waits for commits
// still being replicated.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{name: t.Topic, partitions: t.Partitions})
				}
			}
			code, res := c.validateConsumerOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch), []fetchedTopic(nil)
			if code == 0 {
				code, res = c.fetchOffsets(ctx, rg.Group, topics, req.RequireStable)
			}
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = rg.Group, code
			for _, t := range res {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = t.name
				for _, p := range t.partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.partition, p.offset, p.leaderEpoch, p.metadata, p.errCode
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{name: t.Topic, partitions: t.Partitions})
		}
	}
	code, res := c.fetchOffsets(ctx, req.Group, topics, req.Version >= 7 && req.RequireStable)
	if code != 0 && req.Version < 2 {
		// v0-v1 have no group error: every partition carries it.
		res = make([]fetchedTopic, 0, len(topics))
		for _, t := range topics {
			ft := fetchedTopic{name: t.name}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1, metadata: kmsg.StringPtr(""), errCode: code})
			}
			res = append(res, ft)
		}
	}
	resp.ErrorCode = code
	for _, t := range res {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = t.name
		for _, p := range t.partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.partition, p.offset, p.leaderEpoch, p.metadata, p.errCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// fetchTopic is one requested topic; nil topics mean all committed ones.
type fetchTopic struct {
	name       string
	partitions []int32
}

type fetchedTopic struct {
	name       string
	partitions []fetchedPartition
}

type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    *string
	errCode     int16
}

// fetchOffsets answers one group's part of an OffsetFetch.
func (c *Coordinator) fetchOffsets(ctx context.Context, groupID string, topics []fetchTopic, requireStable bool) (int16, []fetchedTopic) {
	s, code := c.lockShard(groupID)
	if code != 0 {
		return code, nil
	}
	if requireStable {
		// Kafka 4 runs a stable fetch as a write: it is answered after
		// the writes before it, so that a commit in flight is seen.
		done := make(chan struct{})
		s.barrierLocked(func() { close(done) })
		s.mu.Unlock()
		if _, ok := await(ctx, done); !ok {
			return kerr.CoordinatorNotAvailable.Code, nil
		}
		if s, code = c.lockShard(groupID); code != 0 {
			return code, nil
		}
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if topics == nil {
		var out []fetchedTopic
		if g == nil {
			return 0, out
		}
		byTopic := make(map[string]int)
		for _, tp := range sortedOffsets(g) {
			o := g.offsets[tp]
			i, ok := byTopic[tp.topic]
			if !ok {
				i = len(out)
				byTopic[tp.topic] = i
				out = append(out, fetchedTopic{name: tp.topic})
			}
			out[i].partitions = append(out[i].partitions, fetchedPartition{partition: tp.partition, offset: o.offset,
				leaderEpoch: o.leaderEpoch, metadata: kmsg.StringPtr(o.metadata)})
		}
		return 0, out
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, partitions: make([]fetchedPartition, 0, len(t.partitions))}
		for _, p := range t.partitions {
			fp := fetchedPartition{partition: p, offset: -1, leaderEpoch: -1, metadata: kmsg.StringPtr("")}
			if g != nil {
				if o := g.offsets[topicPartition{topic: t.name, partition: p}]; o != nil {
					fp.offset, fp.leaderEpoch, fp.metadata = o.offset, o.leaderEpoch, kmsg.StringPtr(o.metadata)
				}
			}
			ft.partitions = append(ft.partitions, fp)
		}
		out = append(out, ft)
	}
	return 0, out
}

// OffsetDelete deletes committed offsets of a group (KIP-496): all of them
// when the group is Empty; in a group with members only those of topics it
// does not consume (GROUP_SUBSCRIBED_TO_TOPIC otherwise), and only for
// consumer-protocol groups (NON_EMPTY_GROUP for others). It answers once the
// tombstones are replicated.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	code, wait := c.beginOffsetDelete(req, resp)
	if wait != nil {
		var ok bool
		if code, ok = await(ctx, wait); !ok {
			code = kerr.CoordinatorNotAvailable.Code
		}
	}
	if code != 0 {
		// A group error leaves no partition errors.
		resp.Topics = nil
	}
	resp.ErrorCode = code
	return resp
}

func (c *Coordinator) beginOffsetDelete(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse) (int16, <-chan int16) {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	s, code := c.lockShard(req.Group)
	if code != 0 {
		return code, nil
	}
	defer s.mu.Unlock()
	g := s.groups[req.Group]
	if g == nil || g.state == stateDead {
		return kerr.GroupIDNotFound.Code, nil
	}
	if g.state != stateEmpty && !g.usesConsumerProtocol() {
		return kerr.NonEmptyGroup.Code, nil
	}
	var recs []coordinatorRecord
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		subscribed := g.state != stateEmpty && g.isSubscribedToTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			tp := topicPartition{topic: rt.Topic, partition: rp.Partition}
			switch {
			case c.cfg.TopicExists != nil && !c.cfg.TopicExists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if g.deleteOffset(tp) {
					recs = append(recs, offsetCommitRecord(g.id, tp, nil))
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	result := make(chan int16, 1)
	s.appendLocked(recs, func(_ int64, err error) { result <- s.groupWriteErrorCode(err) })
	return 0, result
}

// deleteOffset removes tp's committed offset and its commits in flight,
// reporting whether anything was there (a tombstone is then due).
func (g *group) deleteOffset(tp topicPartition) bool {
	_, had := g.offsets[tp]
	_, pending := g.pendingCommits[tp]
	delete(g.offsets, tp)
	delete(g.pendingCommits, tp)
	return had || pending
}

// OnTopicsDeleted removes every group's committed offsets of the deleted
// topics, with tombstones, as Kafka's coordinator does when topics are
// deleted (onPartitionsDeleted / onTopicsDeleted), so that a topic created
// again under the same name does not inherit them. It does not wait for the
// tombstones to replicate; call it from the metadata apply path.
func (c *Coordinator) OnTopicsDeleted(topics []string) {
	if len(topics) == 0 {
		return
	}
	deleted := make(map[string]bool, len(topics))
	for _, t := range topics {
		deleted[t] = true
	}
	for _, s := range c.allShards() {
		s.mu.Lock()
		if s.status == shardActive {
			s.deleteTopicOffsetsLocked(deleted)
		}
		s.mu.Unlock()
	}
}

func (s *shard) deleteTopicOffsetsLocked(deleted map[string]bool) {
	var recs []coordinatorRecord
	for _, id := range s.sortedGroupIDsLocked() {
		g := s.groups[id]
		var tps []topicPartition
		for tp := range g.offsets {
			if deleted[tp.topic] {
				tps = append(tps, tp)
			}
		}
		for tp := range g.pendingCommits {
			if deleted[tp.topic] && g.offsets[tp] == nil {
				tps = append(tps, tp)
			}
		}
		for _, tp := range tps {
			if g.deleteOffset(tp) {
				recs = append(recs, offsetCommitRecord(g.id, tp, nil))
			}
		}
	}
	if len(recs) == 0 {
		return
	}
	s.logger.Info("removed offsets of deleted topics", slog.Int("offsets", len(recs)))
	s.appendLocked(recs, func(_ int64, err error) {
		if err != nil {
			s.logger.Warn("writing tombstones of deleted topics' offsets failed", slog.Any("error", err))
		}
	})
}
