package group

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeTopics is a TopicLookup over fixed topics.
type fakeTopics map[string]TopicInfo

func (f fakeTopics) TopicByName(n string) (TopicInfo, bool) { t, ok := f[n]; return t, ok }
func (f fakeTopics) TopicNames() []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

var (
	topicT = TopicInfo{Name: "t", ID: [16]byte{0xA}, Partitions: 4}
	topicU = TopicInfo{Name: "u", ID: [16]byte{0xB}, Partitions: 2}
)

func testTopics() fakeTopics { return fakeTopics{"t": topicT, "u": topicU} }

// cgMember is a test client of the consumer group protocol: it tracks its
// epoch and owned partitions as kgo does.
type cgMember struct {
	e      *testEnv
	group  string
	id     string
	epoch  int32
	owned  partSet
	topics fakeTopics
}

func (e *testEnv) cgJoin(group, id string, topics ...string) (*cgMember, *kmsg.ConsumerGroupHeartbeatResponse) {
	m := &cgMember{e: e, group: group, id: id, owned: make(partSet), topics: testTopics()}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = group, id, 0
	req.RebalanceTimeoutMillis = int32(testRebalance / time.Millisecond)
	req.SubscribedTopicNames = topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp := m.send(req)
	return m, resp
}

// send sends req and applies a successful answer.
func (m *cgMember) send(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	m.e.t.Helper()
	resp := m.e.coord.ConsumerGroupHeartbeat(context.Background(), req, m.topics)
	if resp.ErrorCode == 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = make(partSet)
			for _, t := range resp.Assignment.Topics {
				for _, p := range t.Partitions {
					m.owned[tpID{t.TopicID, p}] = struct{}{}
				}
			}
		}
	}
	return resp
}

// beat heartbeats with the current epoch and owned partitions.
func (m *cgMember) beat() *kmsg.ConsumerGroupHeartbeatResponse {
	m.e.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, tp := range m.owned.byTopic() {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.id, Partitions: tp.partitions})
	}
	resp := m.send(req)
	if resp.ErrorCode != 0 {
		m.e.t.Fatalf("heartbeat of %s: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp
}

func (m *cgMember) leave() int16 {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, leaveMemberEpoch
	return m.e.coord.ConsumerGroupHeartbeat(context.Background(), req, m.topics).ErrorCode
}

func (e *testEnv) cgDescribe(group string) kmsg.ConsumerGroupDescribeResponseGroup {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{group}
	return e.coord.ConsumerGroupDescribe(context.Background(), req).Groups[0]
}

func TestConsumerGroupJoinAssignsEveryPartition(t *testing.T) {
	e := newTestEnv(t, nil)
	a, resp := e.cgJoin("g", "a", "t", "u")
	if resp.ErrorCode != 0 || resp.MemberEpoch != 1 || *resp.MemberID != "a" || resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: %+v", resp)
	}
	if len(a.owned) != 6 {
		t.Fatalf("owned %d partitions, want 6", len(a.owned))
	}
	d := e.cgDescribe("g")
	if d.ErrorCode != 0 || d.State != "Stable" || d.Epoch != 1 || d.AssignmentEpoch != 1 || d.AssignorName != "uniform" ||
		len(d.Members) != 1 || d.Members[0].MemberType != 1 || len(d.Members[0].Assignment.TopicPartitions) != 2 ||
		d.Members[0].Assignment.TopicPartitions[0].Topic != "t" {
		t.Fatalf("describe: %+v", d)
	}
	// A heartbeat that changes nothing carries no assignment.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "a", 1
	if r := a.send(req); r.ErrorCode != 0 || r.Assignment != nil || r.MemberEpoch != 1 {
		t.Fatalf("idle heartbeat: %+v", r)
	}
}

func TestConsumerGroupV0GeneratesMemberID(t *testing.T) {
	e := newTestEnv(t, nil)
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberEpoch, req.RebalanceTimeoutMillis = 0, "g0", 0, 1000
	req.SubscribedTopicNames, req.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp := e.coord.ConsumerGroupHeartbeat(context.Background(), req, testTopics())
	if resp.ErrorCode != 0 || resp.MemberID == nil || len(*resp.MemberID) != 22 {
		t.Fatalf("v0 join: %+v", resp)
	}
}

// TestConsumerGroupRevokesBeforeReassigning is KIP-848's reconciliation:
// a new member gets partitions only after their owner revoked them.
func TestConsumerGroupRevokesBeforeReassigning(t *testing.T) {
	e := newTestEnv(t, nil)
	a, _ := e.cgJoin("g", "a", "t")
	b, resp := e.cgJoin("g", "b", "t")
	if resp.MemberEpoch != 2 || len(b.owned) != 0 {
		t.Fatalf("b joined with epoch %d owning %d, want epoch 2 owning none yet", resp.MemberEpoch, len(b.owned))
	}
	if d := e.cgDescribe("g"); d.State != "Reconciling" || d.Epoch != 2 || len(d.Members[1].TargetAssignment.TopicPartitions[0].Partitions) != 2 {
		t.Fatalf("describe while reconciling: %+v", d)
	}
	// a must revoke two partitions first, keeping epoch 1.
	if r := a.beat(); r.MemberEpoch != 1 || len(a.owned) != 2 {
		t.Fatalf("a revoking: epoch %d owned %d", r.MemberEpoch, len(a.owned))
	}
	if b.beat(); len(b.owned) != 0 {
		t.Fatalf("b got %d partitions before a revoked them", len(b.owned))
	}
	if r := a.beat(); r.MemberEpoch != 2 || len(a.owned) != 2 {
		t.Fatalf("a after revoking: epoch %d owned %d", r.MemberEpoch, len(a.owned))
	}
	if b.beat(); len(b.owned) != 2 || b.epoch != 2 {
		t.Fatalf("b after revocation: epoch %d owned %d", b.epoch, len(b.owned))
	}
	for p := range a.owned {
		if _, dup := b.owned[p]; dup {
			t.Fatalf("partition %v owned twice", p)
		}
	}
	if d := e.cgDescribe("g"); d.State != "Stable" {
		t.Fatalf("state %s, want Stable", d.State)
	}

	// b leaves: a takes everything at the next epoch.
	if code := b.leave(); code != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(code))
	}
	if r := a.beat(); r.MemberEpoch != 3 || len(a.owned) != 4 {
		t.Fatalf("a after b left: epoch %d owned %d", r.MemberEpoch, len(a.owned))
	}
}

func TestConsumerGroupSessionExpiry(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ConsumerSessionTimeout = 10 * time.Second })
	a, _ := e.cgJoin("g", "a", "t")
	b, _ := e.cgJoin("g", "b", "t")
	a.beat()
	a.beat()
	b.beat()
	for range 3 {
		e.clock.Advance(4 * time.Second)
		a.beat()
	}
	if d := e.cgDescribe("g"); len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("after b's session expired: %+v", d.Members)
	}
	if r := a.beat(); len(a.owned) != 4 || r.MemberEpoch != 3 {
		t.Fatalf("a after expiry: epoch %d owned %d", r.MemberEpoch, len(a.owned))
	}
	if r := b.send(&kmsg.ConsumerGroupHeartbeatRequest{Version: 1, Group: "g", MemberID: "b", MemberEpoch: b.epoch, RebalanceTimeoutMillis: -1}); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestConsumerGroupRebalanceTimeoutRemovesSlowRevoker(t *testing.T) {
	e := newTestEnv(t, nil)
	a, _ := e.cgJoin("g", "a", "t")
	b, _ := e.cgJoin("g", "b", "t")
	// a learns it must revoke, and then never does.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.MemberEpoch = 1, "g", "a", a.epoch
	e.coord.ConsumerGroupHeartbeat(context.Background(), hb, a.topics)
	e.clock.Advance(testRebalance + time.Second)
	if b.beat(); len(b.owned) != 4 {
		t.Fatalf("b owns %d after a was removed, want 4", len(b.owned))
	}
}

func TestConsumerGroupEpochFencing(t *testing.T) {
	e := newTestEnv(t, nil)
	a, _ := e.cgJoin("g", "a", "t")
	send := func(id string, epoch int32) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", id, epoch
		return e.coord.ConsumerGroupHeartbeat(context.Background(), req, testTopics()).ErrorCode
	}
	if c := send("a", a.epoch+1); c != kerr.FencedMemberEpoch.Code {
		t.Fatalf("newer epoch: %v", kerr.ErrorForCode(c))
	}
	if c := send("zz", 1); c != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(c))
	}
	e.cgJoin("g", "b", "t")
	a.beat()
	a.beat() // epoch 2 now
	if a.epoch != 2 {
		t.Fatalf("a epoch %d", a.epoch)
	}
	if c := send("a", 0+1); c != kerr.FencedMemberEpoch.Code {
		t.Fatalf("previous epoch without owned partitions: %v", kerr.ErrorForCode(c))
	}

	commit := func(epoch int32, version int16) int16 {
		req := commitReq("g", "a", epoch, "t", map[int32]int64{0: 5})
		req.Version = version
		return commitCodes(e.coord.OffsetCommit(context.Background(), req))[0]
	}
	for _, tc := range []struct {
		name    string
		epoch   int32
		version int16
		want    int16
	}{
		{"current epoch", 2, 9, 0},
		{"older epoch", 1, 9, kerr.StaleMemberEpoch.Code},
		{"newer epoch", 3, 9, kerr.StaleMemberEpoch.Code},
		{"classic version", 2, 8, kerr.UnsupportedVersion.Code},
	} {
		if got := commit(tc.epoch, tc.version); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "g", kmsg.StringPtr("a"), 1
	fetch.Groups = append(fetch.Groups, fg)
	if r := e.coord.OffsetFetch(context.Background(), fetch); r.Groups[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch with stale epoch: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
	fetch.Groups[0].MemberEpoch = 2
	if r := e.coord.OffsetFetch(context.Background(), fetch); r.Groups[0].ErrorCode != 0 || r.Groups[0].Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch with current epoch: %+v", r.Groups[0])
	}
}

func TestConsumerGroupHeartbeatValidation(t *testing.T) {
	e := newTestEnv(t, nil)
	empty := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	base := func() *kmsg.ConsumerGroupHeartbeatRequest {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version, r.Group, r.MemberID, r.RebalanceTimeoutMillis = 1, "v", "m", 1000
		r.SubscribedTopicNames, r.Topics = []string{"t"}, empty
		return r
	}
	for _, tc := range []struct {
		name string
		mod  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		want int16
	}{
		{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest.Code},
		{"v1 empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		{"no rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest.Code},
		{"owned partitions on join", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT.ID, Partitions: []int32{0}}}
		}, kerr.InvalidRequest.Code},
		{"no subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest.Code},
		{"bad epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest.Code},
		{"empty instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = kmsg.StringPtr("") }, kerr.InvalidRequest.Code},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor.Code},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression.Code},
		{"unknown group with epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 3 }, kerr.GroupIDNotFound.Code},
		{"valid", func(*kmsg.ConsumerGroupHeartbeatRequest) {}, 0},
	} {
		r := base()
		tc.mod(r)
		if got := e.coord.ConsumerGroupHeartbeat(context.Background(), r, testTopics()).ErrorCode; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
}

func TestConsumerGroupMaxSize(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ConsumerMaxSize = 1 })
	e.cgJoin("g", "a", "t")
	if _, r := e.cgJoin("g", "b", "t"); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestConsumerGroupSurvivesRestart(t *testing.T) {
	e := newTestEnv(t, nil)
	a, _ := e.cgJoin("g", "a", "t")
	b, _ := e.cgJoin("g", "b", "t")
	a.beat() // revoking
	commit := commitReq("g", "a", a.epoch, "t", map[int32]int64{0: 42})
	commit.Version = 9
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), commit)); c[0] != 0 {
		t.Fatalf("commit: %v", c)
	}
	before := e.cgDescribe("g")

	e.restart()
	after := e.cgDescribe("g")
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || after.State != before.State ||
		len(after.Members) != 2 {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	for i := range before.Members {
		bm, am := before.Members[i], after.Members[i]
		if am.MemberID != bm.MemberID || am.MemberEpoch != bm.MemberEpoch ||
			!slices.EqualFunc(am.Assignment.TopicPartitions, bm.Assignment.TopicPartitions, sameTP) ||
			!slices.EqualFunc(am.TargetAssignment.TopicPartitions, bm.TargetAssignment.TopicPartitions, sameTP) {
			t.Fatalf("member %d after restart %+v, before %+v", i, am, bm)
		}
	}
	// The members continue where they were: a finishes revoking, b takes
	// the released partitions.
	a.beat()
	b.beat()
	if a.epoch != 2 || b.epoch != 2 || len(a.owned)+len(b.owned) != 4 || len(b.owned) != 2 {
		t.Fatalf("after restart: a epoch %d owns %d, b epoch %d owns %d", a.epoch, len(a.owned), b.epoch, len(b.owned))
	}
	_, offs := e.fetchOffsetsOf("g")
	if offs[topicPartition{"t", 0}].Offset != 42 {
		t.Fatalf("offsets after restart: %+v", offs)
	}
	// Leaving and deleting survive a restart too.
	a.leave()
	b.leave()
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	if r := e.coord.DeleteGroups(context.Background(), del); r.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
	e.restart()
	if d := e.cgDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after restart: %+v", d)
	}
}

func sameTP(a, b kmsg.AssignmentTopicPartition) bool {
	return a.TopicID == b.TopicID && a.Topic == b.Topic && slices.Equal(a.Partitions, b.Partitions)
}

func TestConsumerAndClassicGroupsExclude(t *testing.T) {
	e := newTestEnv(t, nil)
	e.cgJoin("cons", "a", "t")
	_, w := e.coord.beginJoin(joinReq("cons", "", "t"), clientInfo{})
	if w != nil {
		t.Fatal("classic join parked on a consumer group")
	}
	resp, _ := e.coord.beginJoin(joinReq("cons", "", "t"), clientInfo{})
	if resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	e.formGroup("classic", 1, "t")
	if _, r := e.cgJoin("classic", "a", "t"); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer join of a classic group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := describe(e, 6, "cons"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %+v", d)
	}
	if d := e.cgDescribe("classic"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %+v", d)
	}
	list := kmsg.NewPtrListGroupsRequest()
	list.Version = 5
	list.TypesFilter = []string{"Consumer"}
	r := e.coord.ListGroups(context.Background(), list)
	if len(r.Groups) != 1 || r.Groups[0].Group != "cons" || r.Groups[0].GroupType != "consumer" || r.Groups[0].GroupState != "Stable" ||
		r.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("list consumer groups: %+v", r.Groups)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"cons"}
	if r := e.coord.DeleteGroups(context.Background(), del); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete non-empty consumer group: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
}

func TestConsumerGroupRegexSubscription(t *testing.T) {
	e := newTestEnv(t, nil)
	m := &cgMember{e: e, group: "rx", id: "a", owned: make(partSet), topics: testTopics()}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.RebalanceTimeoutMillis = 1, "rx", "a", 1000
	req.SubscribedTopicRegex, req.Topics = kmsg.StringPtr("t|v"), []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if r := m.send(req); r.ErrorCode != 0 || len(m.owned) != 4 {
		t.Fatalf("regex join: %v owned %d", kerr.ErrorForCode(r.ErrorCode), len(m.owned))
	}
	// A matching topic created later joins the subscription.
	m.topics["v"] = TopicInfo{Name: "v", ID: [16]byte{0xC}, Partitions: 3}
	if r := m.beat(); r.MemberEpoch != 2 || len(m.owned) != 7 {
		t.Fatalf("after topic creation: epoch %d owned %d", r.MemberEpoch, len(m.owned))
	}
}

func TestAssignors(t *testing.T) {
	subs := map[string][]TopicInfo{"a": {topicT, topicU}, "b": {topicT, topicU}, "c": {topicT}}
	ids := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name   string
		assign func() map[string]partSet
		sizes  map[string]int
	}{
		{"range", func() map[string]partSet { return assignRange(ids, subs) }, map[string]int{"a": 3, "b": 2, "c": 1}},
		{"uniform", func() map[string]partSet { return assignUniform(ids, subs, nil) }, map[string]int{"a": 2, "b": 2, "c": 2}},
	} {
		got := tc.assign()
		seen := make(partSet)
		for id, ps := range got {
			if len(ps) != tc.sizes[id] {
				t.Errorf("%s: %s has %d partitions, want %d", tc.name, id, len(ps), tc.sizes[id])
			}
			for p := range ps {
				if _, dup := seen[p]; dup {
					t.Errorf("%s: %v assigned twice", tc.name, p)
				}
				seen[p] = struct{}{}
				if id == "c" && p.topic == topicU.ID {
					t.Errorf("%s: c got unsubscribed %v", tc.name, p)
				}
			}
		}
		if len(seen) != 6 {
			t.Errorf("%s: %d partitions assigned, want 6", tc.name, len(seen))
		}
	}
	// Uniform is sticky: a member joining moves only what it must.
	two := assignUniform([]string{"a", "b"}, map[string][]TopicInfo{"a": {topicT}, "b": {topicT}}, nil)
	three := assignUniform([]string{"a", "b", "c"}, map[string][]TopicInfo{"a": {topicT}, "b": {topicT}, "c": {topicT}}, two)
	for _, id := range []string{"a", "b"} {
		if moved := len(two[id].minus(three[id])); moved > 1 {
			t.Errorf("%s lost %d partitions, want at most 1", id, moved)
		}
	}
}

func TestConsumerGroupStaticMemberRejoins(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.ConsumerSessionTimeout = 10 * time.Second })
	join := func(id, instance string) (*cgMember, *kmsg.ConsumerGroupHeartbeatResponse) {
		m := &cgMember{e: e, group: "st", id: id, owned: make(partSet), topics: testTopics()}
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.InstanceID = 1, "st", id, kmsg.StringPtr(instance)
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 1000, []string{"t"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return m, m.send(req)
	}
	a, _ := join("a", "i1")
	b, _ := join("b", "i2")
	a.beat()
	a.beat()
	b.beat()
	if len(a.owned) != 2 || len(b.owned) != 2 {
		t.Fatalf("owned %d and %d", len(a.owned), len(b.owned))
	}
	if _, r := join("a2", "i1"); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("instance in use: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Version, leave.Group, leave.MemberID, leave.MemberEpoch, leave.InstanceID = 1, "st", "a", leaveStaticMemberEpoch, kmsg.StringPtr("i1")
	if r := e.coord.ConsumerGroupHeartbeat(context.Background(), leave, testTopics()); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	// Its partitions stay reserved: b does not get them.
	if b.beat(); len(b.owned) != 2 {
		t.Fatalf("b took a's partitions after a static leave: %d", len(b.owned))
	}
	epoch := e.cgDescribe("st").Epoch
	a2, r := join("a2", "i1")
	if r.ErrorCode != 0 || r.MemberEpoch != epoch || !a2.owned.equal(a.owned) {
		t.Fatalf("static rejoin: %v epoch %d (group %d), owns %v, a owned %v", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch, epoch, a2.owned, a.owned)
	}
	if d := e.cgDescribe("st"); d.Epoch != epoch || len(d.Members) != 2 || d.Members[0].MemberID != "a2" {
		t.Fatalf("after static rejoin: %+v", d)
	}
	// A static member that does not come back is removed when its
	// session expires.
	if r := e.coord.ConsumerGroupHeartbeat(context.Background(), &kmsg.ConsumerGroupHeartbeatRequest{Version: 1, Group: "st", MemberID: "a2",
		MemberEpoch: leaveStaticMemberEpoch, InstanceID: kmsg.StringPtr("i1"), RebalanceTimeoutMillis: -1}, testTopics()); r.ErrorCode != 0 {
		t.Fatalf("second static leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for range 3 {
		e.clock.Advance(4 * time.Second)
		b.beat()
	}
	if b.beat(); len(b.owned) != 4 {
		t.Fatalf("b owns %d after the static member expired, want 4", len(b.owned))
	}
}

// TestEmptyGroupsChangeType: an empty group of one type becomes the other
// when a member of the other protocol joins, keeping its offsets.
func TestEmptyGroupsChangeType(t *testing.T) {
	e := newTestEnv(t, nil)
	if c := commitCodes(e.coord.OffsetCommit(context.Background(), commitReq("x", "", -1, "t", map[int32]int64{0: 9}))); c[0] != 0 {
		t.Fatalf("admin commit: %v", c)
	}
	a, r := e.cgJoin("x", "a", "t")
	if r.ErrorCode != 0 {
		t.Fatalf("consumer join of an empty classic group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if a.leave() != 0 {
		t.Fatal("leave")
	}
	list := kmsg.NewPtrListGroupsRequest()
	list.Version, list.StatesFilter = 5, []string{"empty"}
	if l := e.coord.ListGroups(context.Background(), list); len(l.Groups) != 1 || l.Groups[0].GroupType != "consumer" {
		t.Fatalf("empty consumer group listed as %+v", l.Groups)
	}
	if resp, _ := e.coord.beginJoin(joinReq("x", "", "t"), clientInfo{}); resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join of an empty consumer group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if d := e.cgDescribe("x"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("still a consumer group: %+v", d)
	}
	e.restart()
	if d := e.cgDescribe("x"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("a consumer group again after restart: %+v", d)
	}
	if _, offs := e.fetchOffsetsOf("x"); offs[topicPartition{"t", 0}].Offset != 9 {
		t.Fatalf("offsets lost: %+v", offs)
	}
}
