package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// This file drives FindCoordinator, the creation of __consumer_offsets and
// the group admin APIs (kadm), and runs the classic group protocol with raw
// requests pinned to every advertised version.

// pinnedVersions returns a client that sends each listed API key at
// exactly the given version.
func pinnedVersions(t testing.TB, addr string, pins map[int16]int16) *kgo.Client {
	t.Helper()
	maxV := kversion.Stable()
	minV := new(kversion.Versions)
	for k, v := range pins {
		maxV.SetMaxKeyVersion(k, v)
		minV.SetMaxKeyVersion(k, v)
	}
	return newClient(t, addr, kgo.MaxVersions(maxV), kgo.MinVersions(minV))
}

// findCoordinator asks node 1 for the coordinators of keys at version v,
// retrying COORDINATOR_NOT_AVAILABLE (the offsets topic may still be on its
// way), and returns one coordinator entry per key (v0-v3 answers are
// folded into one).
func findCoordinator(t testing.TB, cl *kgo.Client, v int16, keyType int8, keys ...string) []kmsg.FindCoordinatorResponseCoordinator {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType = keyType
		if v < 4 {
			req.CoordinatorKey = keys[0]
		} else {
			req.CoordinatorKeys = keys
		}
		resp := send[*kmsg.FindCoordinatorResponse](t, cl, req)
		out := resp.Coordinators
		if v < 4 {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = keys[0], resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage
			out = []kmsg.FindCoordinatorResponseCoordinator{c}
		}
		retry := false
		for _, c := range out {
			retry = retry || c.ErrorCode == kerr.CoordinatorNotAvailable.Code
		}
		if !retry || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFindCoordinatorEveryVersionCreatesOffsetsTopic(t *testing.T) {
	tn := startNode(t, groupArgs...)
	for _, v := range versionsOf(0, 6) {
		cl := pinnedClient(t, tn.addr(), 10, v)
		keys := []string{"g-a", "g-b"}
		if v < 4 {
			keys = keys[:1]
		}
		got := findCoordinator(t, cl, v, 0, keys...)
		if len(got) != len(keys) {
			t.Fatalf("v%d: %d coordinators for %d keys", v, len(got), len(keys))
		}
		for i, c := range got {
			wantCode(t, fmt.Sprintf("v%d key %s", v, keys[i]), c.ErrorCode, nil)
			if c.Key != keys[i] || c.NodeID != 1 || c.Host != "127.0.0.1" || c.Port != int32(tn.port) {
				t.Fatalf("v%d: coordinator %+v, want node 1 at %s", v, c, tn.addr())
			}
		}
		// samsa has no transaction coordinator: INVALID_REQUEST, as Kafka
		// answers a key type it has no coordinator for.
		if v >= 1 {
			for _, c := range findCoordinator(t, cl, v, 1, keys...) {
				wantCode(t, fmt.Sprintf("v%d transactional key", v), c.ErrorCode, kerr.InvalidRequest)
				if c.NodeID != -1 {
					t.Fatalf("v%d transactional key: node %d, want -1", v, c.NodeID)
				}
			}
		}
	}

	// __consumer_offsets: internal, offsets.topic.num.partitions
	// partitions, Kafka's configs for it.
	cl := tn.client()
	mt, ok := describeTopic(t, cl, "__consumer_offsets")
	if !ok || !mt.IsInternal || len(mt.Partitions) != 4 {
		t.Fatalf("__consumer_offsets: exists %v, internal %v, %d partitions; want internal with 4", ok, mt.IsInternal, len(mt.Partitions))
	}
	adm := kadm.NewClient(cl)
	if topics, err := adm.ListTopics(adminCtx(t)); err != nil || topics.Has("__consumer_offsets") {
		t.Fatalf("ListTopics lists the internal topic (err %v)", err)
	}
	if topics, err := adm.ListTopicsWithInternal(adminCtx(t)); err != nil || !topics.Has("__consumer_offsets") {
		t.Fatalf("ListTopicsWithInternal misses __consumer_offsets (err %v)", err)
	}
	res := describeConfigs(t, cl, configResource(kmsg.ConfigResourceTypeTopic, "__consumer_offsets", "cleanup.policy", "compression.type", "segment.bytes"))
	for name, want := range map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"} {
		wantConfig(t, configEntry(t, res[0], name), want, kmsg.ConfigSourceDynamicTopicConfig)
	}
}

func TestFindCoordinatorNeverShrinksOffsetsReplication(t *testing.T) {
	// One broker, offsets.topic.replication.factor=3: Kafka neither
	// creates the topic with fewer replicas nor names a coordinator.
	tn := startNode(t, "offsets.topic.replication.factor=3")
	cl := pinnedClient(t, tn.addr(), 10, 3)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = "g"
	resp := send[*kmsg.FindCoordinatorResponse](t, cl, req)
	wantCode(t, "FindCoordinator with too few brokers", resp.ErrorCode, kerr.CoordinatorNotAvailable)
	if resp.NodeID != -1 || resp.Host != "" || resp.Port != -1 {
		t.Fatalf("error answer names node %d at %s:%d, want -1, \"\", -1", resp.NodeID, resp.Host, resp.Port)
	}
	if _, ok := describeTopic(t, tn.client(), "__consumer_offsets"); ok {
		t.Fatal("__consumer_offsets created with fewer replicas than offsets.topic.replication.factor")
	}
}

func TestGroupAdminAPIs(t *testing.T) {
	tn := startNode(t, groupArgs...)
	const topic, group = "adm", "adm-group"
	adm := tn.admin()
	createTopic(t, adm, topic, 2, nil)
	produceSync(t, tn.client(), topic, "a", 50)
	c := newCollector()
	m := startMember(t, []string{tn.addr()}, "adm-member", c, 0, memberOpts(group, topic, kgo.RangeBalancer())...)
	c.waitFor(t, 50, 30*time.Second, m)
	waitGroup(t, adm, group, 1, 30*time.Second)
	ctx := adminCtx(t)

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if g, ok := listed[group]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" || g.Coordinator != 1 {
		t.Fatalf("ListGroups: %+v (found %v), want Stable consumer group coordinated by 1", g, ok)
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil || described[group].Err != nil {
		t.Fatalf("DescribeGroups: %v %v", err, described[group].Err)
	}
	d := described[group]
	if d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 1 || d.Members[0].ClientID != "adm-member" {
		t.Fatalf("DescribeGroups: %+v", d)
	}
	if assigned := d.AssignedPartitions(); len(assigned[topic]) != 2 {
		t.Fatalf("DescribeGroups: assigned %v, want both partitions of %s", assigned, topic)
	}
	// The member commits each batch right after processing it.
	waitCommitted(t, adm, group, 50, 10*time.Second)

	// An active group cannot be deleted, nor its offsets for a topic it
	// consumes.
	// kadm.DeleteGroup returns the group's error as its error.
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("DeleteGroup of an active group: %v, want NON_EMPTY_GROUP", err)
	}
	dres, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if derr, _ := dres.Lookup(topic, 0); err != nil || !errors.Is(derr, kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets of a consumed topic: %v %v, want GROUP_SUBSCRIBED_TO_TOPIC", err, derr)
	}

	m.leave()
	deadline := time.Now().Add(10 * time.Second)
	for {
		listed, err := adm.ListGroups(ctx)
		if err == nil && listed[group].State == "Empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not Empty after its member left: %+v %v", listed[group], err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Commits to an empty group, as tools do.
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "by admin"})
	commit.Add(kadm.Offset{Topic: topic, Partition: 1, At: 7, LeaderEpoch: -1})
	cres, err := adm.CommitOffsets(ctx, group, commit)
	if err != nil || cres.Error() != nil {
		t.Fatalf("CommitOffsets: %v %v", err, cres.Error())
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil || offs.Error() != nil {
		t.Fatalf("FetchOffsets: %v %v", err, offs.Error())
	}
	if o, _ := offs.Lookup(topic, 0); o.At != 5 || o.Metadata != "by admin" {
		t.Fatalf("partition 0 after CommitOffsets: %+v", o)
	}
	if o, _ := offs.Lookup(topic, 1); o.At != 7 {
		t.Fatalf("partition 1 after CommitOffsets: %+v", o)
	}

	dres, err = adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if derr, ok := dres.Lookup(topic, 0); err != nil || !ok || derr != nil {
		t.Fatalf("DeleteOffsets of an empty group: %v %v (answered %v)", err, derr, ok)
	}
	offs, err = adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	if o, ok := offs.Lookup(topic, 0); ok && o.At >= 0 {
		t.Fatalf("partition 0 still committed at %d after DeleteOffsets", o.At)
	}
	if o, _ := offs.Lookup(topic, 1); o.At != 7 {
		t.Fatalf("DeleteOffsets of partition 0 touched partition 1: %+v", o)
	}

	if r, err := adm.DeleteGroup(ctx, group); err != nil || r.Err != nil {
		t.Fatalf("DeleteGroup: %v %v", err, r.Err)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || listed[group].Group != "" {
		t.Fatalf("ListGroups lists the deleted group (err %v)", err)
	}
	offs, err = adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets of a deleted group: %v", err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			t.Fatalf("deleted group still has offset %+v", o)
		}
	})
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroup of a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
}

// waitCommitted waits until the group's committed offsets sum to want.
func waitCommitted(t testing.TB, adm *kadm.Client, group string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		offs, err := adm.FetchOffsets(ctx, group)
		cancel()
		var sum int64
		if err == nil && offs.Error() == nil {
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets of %s sum to %d (err %v), want %d", group, sum, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClassicGroupProtocolEveryVersion runs one member through the whole
// classic protocol (join, sync, heartbeat, commit, fetch, describe, list,
// leave, delete) once per JoinGroup version, with every other group API
// pinned to the version of the same era, so each advertised version of
// each group API is decoded and answered at least once.
func TestClassicGroupProtocolEveryVersion(t *testing.T) {
	tn := startNode(t, groupArgs...)
	const topic = "classic"
	createTopic(t, tn.admin(), topic, 1, nil)
	clamp := func(v, lo, hi int16) int16 { return max(lo, min(v, hi)) }
	for _, jv := range versionsOf(0, 9) {
		pins := map[int16]int16{
			11: jv,              // JoinGroup 0-9
			14: clamp(jv, 0, 5), // SyncGroup
			12: clamp(jv, 0, 4), // Heartbeat
			8:  clamp(jv, 2, 9), // OffsetCommit
			9:  clamp(jv, 1, 9), // OffsetFetch
			15: clamp(jv, 0, 6), // DescribeGroups
			16: clamp(jv, 0, 5), // ListGroups
			13: clamp(jv, 0, 5), // LeaveGroup
			42: clamp(jv, 0, 2), // DeleteGroups
			10: clamp(jv, 0, 6), // FindCoordinator
			47: 0,               // OffsetDelete
		}
		group := "classic-v" + strconv.Itoa(int(jv))
		t.Run(group, func(t *testing.T) {
			cl := pinnedVersions(t, tn.addr(), pins)
			findCoordinator(t, cl, pins[10], 0, group)
			runClassicMember(t, cl, group, topic, pins)
		})
	}
}

func runClassicMember(t *testing.T, cl *kgo.Client, group, topic string, pins map[int16]int16) {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = group, 6000, 10000, "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	joined := send[*kmsg.JoinGroupResponse](t, cl, join)
	if pins[11] >= 4 {
		// KIP-394: a first join gets its member ID and joins again.
		wantCode(t, "first JoinGroup", joined.ErrorCode, kerr.MemberIDRequired)
		join.MemberID = joined.MemberID
		joined = send[*kmsg.JoinGroupResponse](t, cl, join)
	}
	wantCode(t, "JoinGroup", joined.ErrorCode, nil)
	if joined.MemberID == "" || joined.LeaderID != joined.MemberID || joined.Generation < 1 || len(joined.Members) != 1 {
		t.Fatalf("JoinGroup: member %q leader %q generation %d, %d members", joined.MemberID, joined.LeaderID, joined.Generation, len(joined.Members))
	}
	if joined.Protocol == nil || *joined.Protocol != "range" {
		t.Fatalf("JoinGroup chose protocol %v, want range", joined.Protocol)
	}
	member, gen := joined.MemberID, joined.Generation

	assignment := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, []int32{0}
	assignment.Topics = []kmsg.ConsumerMemberAssignmentTopic{at}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = group, gen, member
	sync.ProtocolType, sync.Protocol = ptr("consumer"), ptr("range")
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = member, assignment.AppendTo(nil)
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{sa}
	synced := send[*kmsg.SyncGroupResponse](t, cl, sync)
	wantCode(t, "SyncGroup", synced.ErrorCode, nil)
	var got kmsg.ConsumerMemberAssignment
	if err := got.ReadFrom(synced.MemberAssignment); err != nil || len(got.Topics) != 1 || got.Topics[0].Topic != topic {
		t.Fatalf("SyncGroup assignment %+v (%v), want %s-0", got, err, topic)
	}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = group, gen, member
	wantCode(t, "Heartbeat", send[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, nil)
	hb.Generation = gen + 1
	wantCode(t, "Heartbeat of a future generation", send[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, kerr.IllegalGeneration)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation, commit.MemberID = group, gen, member
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = topic
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset, cp.LeaderEpoch, cp.Metadata = 0, 42, -1, ptr("m")
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	committed := send[*kmsg.OffsetCommitResponse](t, cl, commit)
	if len(committed.Topics) != 1 || len(committed.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetCommit answered %+v", committed.Topics)
	}
	wantCode(t, "OffsetCommit", committed.Topics[0].Partitions[0].ErrorCode, nil)

	if offset := fetchOffset(t, cl, pins[9], group, topic); offset != 42 {
		t.Fatalf("OffsetFetch v%d: offset %d, want 42", pins[9], offset)
	}

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	described := send[*kmsg.DescribeGroupsResponse](t, cl, dg)
	if len(described.Groups) != 1 || described.Groups[0].ErrorCode != 0 || described.Groups[0].State != "Stable" ||
		described.Groups[0].Protocol != "range" || len(described.Groups[0].Members) != 1 || described.Groups[0].Members[0].MemberID != member {
		t.Fatalf("DescribeGroups: %+v", described.Groups)
	}

	listed := send[*kmsg.ListGroupsResponse](t, cl, kmsg.NewPtrListGroupsRequest())
	wantCode(t, "ListGroups", listed.ErrorCode, nil)
	found := false
	for _, g := range listed.Groups {
		found = found || g.Group == group && g.ProtocolType == "consumer"
	}
	if !found {
		t.Fatalf("ListGroups misses %s: %+v", group, listed.Groups)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = group, member
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = member
	leave.Members = []kmsg.LeaveGroupRequestMember{lm}
	left := send[*kmsg.LeaveGroupResponse](t, cl, leave)
	wantCode(t, "LeaveGroup", left.ErrorCode, nil)
	for _, m := range left.Members {
		wantCode(t, "LeaveGroup member", m.ErrorCode, nil)
	}

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odp := kmsg.NewOffsetDeleteRequestTopicPartition()
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{odp}
	od.Topics = []kmsg.OffsetDeleteRequestTopic{odt}
	deleted := send[*kmsg.OffsetDeleteResponse](t, cl, od)
	wantCode(t, "OffsetDelete", deleted.ErrorCode, nil)
	if offset := fetchOffset(t, cl, pins[9], group, topic); offset != -1 {
		t.Fatalf("OffsetFetch after OffsetDelete: offset %d, want -1", offset)
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{group}
	dr := send[*kmsg.DeleteGroupsResponse](t, cl, del)
	if len(dr.Groups) != 1 {
		t.Fatalf("DeleteGroups answered %+v", dr.Groups)
	}
	wantCode(t, "DeleteGroups", dr.Groups[0].ErrorCode, nil)
}

// fetchOffset asks for one partition's committed offset in the request
// shape of version v (one group up to v7, a list of groups from v8).
func fetchOffset(t testing.TB, cl *kgo.Client, v int16, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	if v < 8 {
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
		resp := send[*kmsg.OffsetFetchResponse](t, cl, req)
		wantCode(t, "OffsetFetch", resp.ErrorCode, nil)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetFetch v%d answered %+v", v, resp.Topics)
		}
		wantCode(t, "OffsetFetch partition", resp.Topics[0].Partitions[0].ErrorCode, nil)
		return resp.Topics[0].Partitions[0].Offset
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{rt}
	req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	resp := send[*kmsg.OffsetFetchResponse](t, cl, req)
	if len(resp.Groups) != 1 || len(resp.Groups[0].Topics) != 1 || len(resp.Groups[0].Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetFetch v%d answered %+v", v, resp.Groups)
	}
	wantCode(t, "OffsetFetch group", resp.Groups[0].ErrorCode, nil)
	wantCode(t, "OffsetFetch partition", resp.Groups[0].Topics[0].Partitions[0].ErrorCode, nil)
	return resp.Groups[0].Topics[0].Partitions[0].Offset
}

func TestApiVersionsAdvertisesClassicGroupAPIsOnly(t *testing.T) {
	tn := startNode(t)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-integration", "1.0"
	resp := send[*kmsg.ApiVersionsResponse](t, tn.client(), req)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v%d: %v, %d keys", resp.Version, kerr.ErrorForCode(resp.ErrorCode), len(resp.ApiKeys))
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key, want := range map[int16][2]int16{
		8: {2, 9}, 9: {1, 9}, 10: {0, 6}, 11: {0, 9}, 12: {0, 4}, 13: {0, 5},
		14: {0, 5}, 15: {0, 6}, 16: {0, 5}, 42: {0, 2}, 47: {0, 0},
		68: {0, 1}, 69: {0, 1},
	} {
		if got[key] != want {
			t.Errorf("API key %d advertised as %v, want %v", key, got[key], want)
		}
	}
	// KIP-932's share group APIs are not served.
	for _, key := range []int16{76, 77, 78, 79} {
		if r, ok := got[key]; ok {
			t.Errorf("API key %d advertised (%v) but not served", key, r)
		}
	}
}
