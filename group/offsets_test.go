package group

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitFetchRoundTrip(t *testing.T) {
	e := newTestEnv(t, nil)
	// A simple consumer (generation -1) creates the group by committing.
	resp := e.coord.OffsetCommit(context.Background(), commitReq("simple", "", -1, "t", map[int32]int64{0: 10, 1: 20}))
	if c := commitCodes(resp); !slices.Equal(c, []int16{0, 0}) || resp.Version != 9 {
		t.Fatalf("commit: %v v%d", c, resp.Version)
	}
	code, offs := e.fetchOffsetsOf("simple")
	if code != 0 || len(offs) != 2 {
		t.Fatalf("fetch all: %d %v", code, offs)
	}
	p0 := offs[topicPartition{"t", 0}]
	if p0.Offset != 10 || p0.LeaderEpoch != 7 || p0.Metadata == nil || *p0.Metadata != "md" || p0.ErrorCode != 0 {
		t.Fatalf("partition 0: %+v", p0)
	}
	if d := describe(e, 5, "simple"); d.State != "Empty" || d.ProtocolType != "" {
		t.Fatalf("simple group: %+v", d)
	}

	// v1-v7 single-group form, with a partition never committed; v4 has
	// no leader epoch on the wire (kmsg leaves it out), v7 does.
	for _, version := range []int16{1, 4, 7} {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version, r.Group = version, "simple"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1, 5}}}
		fr := e.coord.OffsetFetch(context.Background(), r)
		if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d fetch: %+v", version, fr)
		}
		got, missing := fr.Topics[0].Partitions[0], fr.Topics[0].Partitions[1]
		if got.Offset != 20 || got.LeaderEpoch != 7 || *got.Metadata != "md" || missing.Offset != -1 || missing.LeaderEpoch != -1 || *missing.Metadata != "" {
			t.Fatalf("v%d fetch: %+v %+v", version, got, missing)
		}
	}
	// v2-v7 with null topics: everything committed.
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group, r.RequireStable = 7, "simple", true
	if fr := e.coord.OffsetFetch(context.Background(), r); len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 2 {
		t.Fatalf("fetch all v7: %+v", fr)
	}

	// A group that does not exist has no offsets and no error (Kafka).
	code, offs = e.fetchOffsetsOf("nobody")
	if code != 0 || len(offs) != 0 {
		t.Fatalf("fetch of unknown group: %d %v", code, offs)
	}
	r = kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group = 6, "nobody"
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	if fr := e.coord.OffsetFetch(context.Background(), r); fr.ErrorCode != 0 || fr.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("fetch of unknown group: %+v", fr)
	}

	// A later commit replaces the offset; v5 has no leader epoch (-1).
	cr := commitReq("simple", "", -1, "t", map[int32]int64{0: 11})
	cr.Version = 5
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), cr)); c[0] != 0 {
		t.Fatalf("v5 commit: %v", c)
	}
	if _, offs = e.fetchOffsetsOf("simple"); offs[topicPartition{"t", 0}].Offset != 11 || offs[topicPartition{"t", 0}].LeaderEpoch != -1 {
		t.Fatalf("after second commit: %+v", offs[topicPartition{"t", 0}])
	}
}

func TestOffsetCommitValidation(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.TopicExists = func(topic string, partition int32) bool { return topic != "gone" && partition < 10 }
	})
	tg := e.formGroup("members", 2, "t")
	m := tg.members[0]
	other := e.groupOnOtherPartition("members")
	missing := e.sibling("missing", "members")
	e.coord.Resign(e.partitionOf(other), -1)

	tests := []struct {
		name string
		req  func() *kmsg.OffsetCommitRequest
		want []int16
	}{
		{"member commit", func() *kmsg.OffsetCommitRequest {
			return commitReq("members", m, tg.generation, "t", map[int32]int64{0: 1})
		}, []int16{0}},
		{"wrong generation", func() *kmsg.OffsetCommitRequest {
			return commitReq("members", m, tg.generation+1, "t", map[int32]int64{0: 1})
		}, []int16{kerr.IllegalGeneration.Code}},
		{"unknown member", func() *kmsg.OffsetCommitRequest {
			return commitReq("members", "ghost", tg.generation, "t", map[int32]int64{0: 1})
		}, []int16{kerr.UnknownMemberID.Code}},
		{"simple commit to a group with members", func() *kmsg.OffsetCommitRequest {
			return commitReq("members", "", -1, "t", map[int32]int64{0: 1})
		}, []int16{kerr.UnknownMemberID.Code}},
		{"generation for a group that does not exist, v8", func() *kmsg.OffsetCommitRequest {
			r := commitReq(missing, m, 3, "t", map[int32]int64{0: 1})
			r.Version = 8
			return r
		}, []int16{kerr.IllegalGeneration.Code}},
		{"generation for a group that does not exist, v9", func() *kmsg.OffsetCommitRequest {
			return commitReq(missing, m, 3, "t", map[int32]int64{0: 1})
		}, []int16{kerr.GroupIDNotFound.Code}},
		{"metadata too large", func() *kmsg.OffsetCommitRequest {
			r := commitReq("members", m, tg.generation, "t", map[int32]int64{0: 1, 1: 2})
			r.Topics[0].Partitions[1].Metadata = kmsg.StringPtr(strings.Repeat("x", 65))
			return r
		}, []int16{0, kerr.OffsetMetadataTooLarge.Code}},
		{"unknown topic and partition", func() *kmsg.OffsetCommitRequest {
			r := commitReq("members", m, tg.generation, "t", map[int32]int64{0: 1, 10: 1})
			r.Topics = append(r.Topics, commitReq("", "", 0, "gone", map[int32]int64{0: 1}).Topics...)
			return r
		}, []int16{0, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code}},
		{"not coordinator", func() *kmsg.OffsetCommitRequest { return commitReq(other, "", -1, "t", map[int32]int64{0: 1}) },
			[]int16{kerr.NotCoordinator.Code}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commitCodes(e.coord.OffsetCommit(context.Background(), tt.req())); !slices.Equal(got, tt.want) {
				t.Fatalf("codes %v, want %v", got, tt.want)
			}
		})
	}
	if _, _, ok := e.groupState(missing); ok {
		t.Fatal("a rejected commit created the group")
	}
	// The member's commits are there, the rejected ones are not.
	_, offs := e.fetchOffsetsOf("members")
	if len(offs) != 1 || offs[topicPartition{"t", 0}].Offset != 1 {
		t.Fatalf("offsets: %+v", offs)
	}
}

func TestOffsetCommitRetentionTimeWritesExpireTimestamp(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.OffsetsRetention = 24 * time.Hour })
	r := commitReq("ret", "", -1, "t", map[int32]int64{0: 5})
	r.Version, r.RetentionTimeMillis = 2, int64(time.Minute/time.Millisecond)
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), r)); c[0] != 0 {
		t.Fatalf("commit: %v", c)
	}
	// The explicit one-minute retention wins over the broker's day.
	e.clock.Advance(2 * time.Minute)
	if _, offs := e.fetchOffsetsOf("ret"); len(offs) != 0 {
		t.Fatalf("offsets with explicit retention survived it: %+v", offs)
	}
}

func TestOffsetDeleteRules(t *testing.T) {
	e := newTestEnv(t, nil)
	tg := e.formGroup("consumers", 1, "t1")
	for _, topic := range []string{"t1", "t2"} {
		if c := commitCodes(e.coord.OffsetCommit(context.Background(), commitReq("consumers", tg.members[0], tg.generation, topic, map[int32]int64{0: 3}))); c[0] != 0 {
			t.Fatalf("commit %s: %v", topic, c)
		}
	}
	// A non-consumer group with members.
	cr := joinReq("connectors", "")
	cr.Version, cr.ProtocolType = 3, "connect"
	_, w := e.coord.beginJoin(cr, clientInfo{})
	e.settle([]<-chan joinResult{w})
	// An Empty group with offsets.
	e.coord.OffsetCommit(context.Background(), commitReq("idle", "", -1, "t1", map[int32]int64{0: 1, 1: 2}))

	del := func(groupID string, topics ...string) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = groupID
		for _, tp := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetDeleteRequestTopic{Topic: tp, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
		}
		return e.coord.OffsetDelete(context.Background(), r)
	}
	tests := []struct {
		name       string
		group      string
		topics     []string
		wantGroup  int16
		wantTopics []int16
	}{
		{"subscribed topic of a consumer group", "consumers", []string{"t1", "t2"}, 0, []int16{kerr.GroupSubscribedToTopic.Code, 0}},
		{"non-consumer group with members", "connectors", []string{"t1"}, kerr.NonEmptyGroup.Code, nil},
		{"empty group", "idle", []string{"t1"}, 0, []int16{0}},
		{"unknown group", "ghosts", []string{"t1"}, kerr.GroupIDNotFound.Code, nil},
		{"empty group ID", "", []string{"t1"}, kerr.InvalidGroupID.Code, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := del(tt.group, tt.topics...)
			if resp.ErrorCode != tt.wantGroup {
				t.Fatalf("group error %d, want %d", resp.ErrorCode, tt.wantGroup)
			}
			var got []int16
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					got = append(got, p.ErrorCode)
				}
			}
			if !slices.Equal(got, tt.wantTopics) {
				t.Fatalf("partition errors %v, want %v", got, tt.wantTopics)
			}
		})
	}
	_, offs := e.fetchOffsetsOf("consumers")
	if _, ok := offs[topicPartition{"t2", 0}]; ok || offs[topicPartition{"t1", 0}].Offset != 3 {
		t.Fatalf("consumers offsets after delete: %+v", offs)
	}
	_, offs = e.fetchOffsetsOf("idle")
	if len(offs) != 1 || offs[topicPartition{"t1", 1}].Offset != 2 {
		t.Fatalf("idle offsets after delete: %+v", offs)
	}
	// The tombstones are in the log: a restart does not bring them back.
	e.restart()
	if _, offs = e.fetchOffsetsOf("idle"); len(offs) != 1 {
		t.Fatalf("idle offsets after restart: %+v", offs)
	}
	if _, offs = e.fetchOffsetsOf("consumers"); len(offs) != 1 {
		t.Fatalf("consumers offsets after restart: %+v", offs)
	}
}

func TestRetentionExpiresOffsetsThenGroups(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.OffsetsRetention, c.OffsetsRetentionCheck = 2*time.Minute, 10*time.Second })
	// A simple group: its offsets expire two minutes after their commit.
	e.coord.OffsetCommit(context.Background(), commitReq("simple", "", -1, "t", map[int32]int64{0: 1}))
	// A consumer group that became Empty: its offsets expire two minutes
	// after it became Empty, whenever they were committed.
	tg := e.formGroup("gone", 1, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("gone", tg.members[0], tg.generation, "t", map[int32]int64{0: 2}))
	// A Stable consumer group keeps the offsets of topics it consumes.
	live := e.formGroup("live", 1, "t")
	e.coord.OffsetCommit(context.Background(), commitReq("live", live.members[0], live.generation, "t", map[int32]int64{0: 3}))
	e.coord.OffsetCommit(context.Background(), commitReq("live", live.members[0], live.generation, "old", map[int32]int64{0: 4}))

	for range 6 {
		heartbeat(e, "live", live.members[0], live.generation)
		e.clock.Advance(testSession / 2)
	}
	// "gone"'s member stopped heartbeating: the group became Empty.
	if st, _, _ := e.groupState("gone"); st != stateEmpty {
		t.Fatalf("gone: %v", st)
	}
	if _, offs := e.fetchOffsetsOf("gone"); len(offs) != 1 {
		t.Fatalf("gone lost its offsets before the retention: %v", offs)
	}
	for range 24 {
		heartbeat(e, "live", live.members[0], live.generation)
		e.clock.Advance(testSession / 2)
	}
	list := func() []string {
		var out []string
		for _, g := range e.coord.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest()).Groups {
			out = append(out, g.Group)
		}
		return out
	}
	if got := list(); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("groups after retention: %v", got)
	}
	_, offs := e.fetchOffsetsOf("live")
	if len(offs) != 1 || offs[topicPartition{"t", 0}].Offset != 3 {
		t.Fatalf("live offsets: %+v", offs)
	}
	e.restart()
	if got := list(); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("groups after restart: %v", got)
	}
}

func TestRequireStableFetchSeesCommitInFlight(t *testing.T) {
	e := newTestEnv(t, nil)
	resp, w := e.coord.beginCommit(commitReq("stable", "", -1, "t", map[int32]int64{0: 9}))
	if w == nil {
		t.Fatalf("commit answered at once: %v", commitCodes(resp))
	}
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.RequireStable = 8, true
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "stable", MemberEpoch: -1}}
	fr := e.coord.OffsetFetch(context.Background(), r)
	if fr.Groups[0].ErrorCode != 0 || len(fr.Groups[0].Topics) != 1 || fr.Groups[0].Topics[0].Partitions[0].Offset != 9 {
		t.Fatalf("stable fetch: %+v", fr.Groups[0])
	}
	if code := wait(t, w); code != 0 {
		t.Fatalf("commit: %d", code)
	}
}

func TestConcurrentCommitsApplyInLogOrder(t *testing.T) {
	e := newTestEnv(t, nil)
	const writers, commits = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range commits {
				resp := e.coord.OffsetCommit(context.Background(), commitReq("race", "", -1, "t", map[int32]int64{0: int64(w*1000 + i)}))
				if c := commitCodes(resp); c[0] != 0 {
					t.Errorf("commit: %v", c)
					return
				}
			}
		}()
	}
	wg.Wait()
	_, offs := e.fetchOffsetsOf("race")
	before := offs[topicPartition{"t", 0}].Offset
	// The log's last record decides after a restart: memory must agree.
	e.restart()
	_, offs = e.fetchOffsetsOf("race")
	if after := offs[topicPartition{"t", 0}].Offset; after != before {
		t.Fatalf("offset %d in memory, %d replayed from the log", before, after)
	}
}

func TestOffsetsOfDeletedTopicsAreRemoved(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, g := range []string{"a", "b"} {
		for _, topic := range []string{"kept", "dropped"} {
			e.coord.OffsetCommit(context.Background(), commitReq(g, "", -1, topic, map[int32]int64{0: 1, 1: 2}))
		}
	}
	e.coord.OnTopicsDeleted([]string{"dropped", "never-existed"})
	check := func() {
		t.Helper()
		for _, g := range []string{"a", "b"} {
			_, offs := e.fetchOffsetsOf(g)
			if len(offs) != 2 || offs[topicPartition{"kept", 1}].Offset != 2 {
				t.Fatalf("group %s offsets: %v", g, offs)
			}
		}
	}
	check()
	e.restart()
	check()
}
