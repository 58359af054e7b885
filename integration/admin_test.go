package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// This file drives the admin and offset APIs (ListOffsets, CreateTopics,
// DeleteTopics, DeleteRecords, InitProducerId, OffsetForLeaderEpoch,
// DescribeConfigs, AlterConfigs, CreatePartitions, IncrementalAlterConfigs,
// DescribeCluster) against an in-process node with kadm, and with raw kmsg
// requests pinned to every advertised version where kadm cannot reach an
// error path or a version.

// adminCtx is a test-scoped context with a deadline.
func adminCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pinnedClient returns a client that sends API key at exactly version v.
func pinnedClient(t testing.TB, addr string, key, v int16) *kgo.Client {
	t.Helper()
	maxV := kversion.Stable()
	maxV.SetMaxKeyVersion(key, v)
	minV := new(kversion.Versions)
	minV.SetMaxKeyVersion(key, v)
	return newClient(t, addr, kgo.MaxVersions(maxV), kgo.MinVersions(minV))
}

// send issues req to node 1 directly (no sharding, no controller lookup) and
// returns the typed response.
func send[R kmsg.Response](t testing.TB, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Broker(1).Request(adminCtx(t), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// versionsOf lists min..max.
func versionsOf(min, max int16) []int16 {
	var vs []int16
	for v := min; v <= max; v++ {
		vs = append(vs, v)
	}
	return vs
}

// wantCode fails unless code is want (nil = success).
func wantCode(t testing.TB, what string, code int16, want *kerr.Error) {
	t.Helper()
	wantC := int16(0)
	if want != nil {
		wantC = want.Code
	}
	if code != wantC {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(code), want)
	}
}

func ptr[T any](v T) *T { return &v }

// describeTopic asks node 1 for one topic's metadata with a raw request:
// kadm answers from a metadata cache that other clients' changes do not
// reach for a few seconds.
func describeTopic(t testing.TB, cl *kgo.Client, topic string) (kmsg.MetadataResponseTopic, bool) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &topic
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	// Any broker can answer Metadata; kgo picks one it can reach.
	resp, err := req.RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatalf("metadata for %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return kmsg.MetadataResponseTopic{}, false
	}
	return resp.Topics[0], true
}

// topicID returns a topic's ID.
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	mt, ok := describeTopic(t, cl, topic)
	if !ok {
		t.Fatalf("topic %s does not exist", topic)
	}
	return mt.TopicID
}

// partitionCount returns the topic's partition count, -1 if it does not
// exist.
func partitionCount(t testing.TB, cl *kgo.Client, topic string) int {
	t.Helper()
	mt, ok := describeTopic(t, cl, topic)
	if !ok {
		return -1
	}
	return len(mt.Partitions)
}

func newCreatableTopic(name string, partitions int32, rf int16, configs map[string]*string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, configs[k]
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func TestCreateTopicsEveryVersion(t *testing.T) {
	tn := startNode(t)
	cl := tn.client()
	for _, v := range versionsOf(2, 7) {
		name := fmt.Sprintf("create-v%d", v)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		req.Topics = append(req.Topics, newCreatableTopic(name, 2, 1, map[string]*string{"retention.ms": ptr("3600000")}))
		resp := send[*kmsg.CreateTopicsResponse](t, pinnedClient(t, tn.addr(), 19, v), req)
		if len(resp.Topics) != 1 {
			t.Fatalf("v%d: %d topics answered", v, len(resp.Topics))
		}
		st := resp.Topics[0]
		wantCode(t, name, st.ErrorCode, nil)
		if got := partitionCount(t, cl, name); got != 2 {
			t.Fatalf("v%d: topic has %d partitions, want 2", v, got)
		}
		if v >= 5 {
			if st.NumPartitions != 2 || st.ReplicationFactor != 1 {
				t.Fatalf("v%d: answered %d partitions, RF %d", v, st.NumPartitions, st.ReplicationFactor)
			}
			byName := map[string]kmsg.CreateTopicsResponseTopicConfig{}
			for _, c := range st.Configs {
				byName[c.Name] = c
			}
			if !slices.IsSortedFunc(st.Configs, func(a, b kmsg.CreateTopicsResponseTopicConfig) int { return strings.Compare(a.Name, b.Name) }) {
				t.Fatalf("v%d: configs not sorted by name", v)
			}
			if c := byName["retention.ms"]; c.Value == nil || *c.Value != "3600000" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig) || c.ReadOnly {
				t.Fatalf("v%d: retention.ms described as %+v", v, c)
			}
			if c, ok := byName["segment.bytes"]; !ok || c.Source != int8(kmsg.ConfigSourceDefaultConfig) || c.Value == nil {
				t.Fatalf("v%d: segment.bytes described as %+v", v, c)
			}
		}
		if v >= 7 {
			if st.TopicID == ([16]byte{}) || st.TopicID != topicID(t, cl, name) {
				t.Fatalf("v7: topic ID %x, metadata says %x", st.TopicID, topicID(t, cl, name))
			}
		}
	}
}

func TestCreateTopicsErrorCodes(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	createTopic(t, adm, "exists", 1, nil)
	createTopic(t, adm, "col.lide", 1, nil)

	assign := func(rt kmsg.CreateTopicsRequestTopic, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
		for p, r := range replicas {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	nonConsecutive := assign(newCreatableTopic("gap", -1, -1, nil), []int32{1})
	nonConsecutive.ReplicaAssignment[0].Partition = 1

	tests := []struct {
		topic kmsg.CreateTopicsRequestTopic
		want  *kerr.Error
	}{
		{newCreatableTopic("fine", 3, 1, nil), nil},
		{newCreatableTopic("defaults", -1, -1, nil), nil},
		{assign(newCreatableTopic("manual", -1, -1, nil), []int32{1}, []int32{1}), nil},
		{newCreatableTopic("exists", 1, 1, nil), kerr.TopicAlreadyExists},
		{newCreatableTopic("bad name!", 1, 1, nil), kerr.InvalidTopicException},
		{newCreatableTopic("col_lide", 1, 1, nil), kerr.InvalidTopicException},
		{newCreatableTopic("zero-partitions", 0, 1, nil), kerr.InvalidPartitions},
		{newCreatableTopic("negative-partitions", -5, 1, nil), kerr.InvalidPartitions},
		{newCreatableTopic("zero-rf", 1, 0, nil), kerr.InvalidReplicationFactor},
		{newCreatableTopic("rf-above-brokers", 1, 2, nil), kerr.InvalidReplicationFactor},
		{newCreatableTopic("unknown-key", 1, 1, map[string]*string{"no.such.key": ptr("1")}), kerr.InvalidConfig},
		{newCreatableTopic("bad-value", 1, 1, map[string]*string{"retention.ms": ptr("soon")}), kerr.InvalidConfig},
		{newCreatableTopic("lags", 1, 1, map[string]*string{"min.compaction.lag.ms": ptr("10"), "max.compaction.lag.ms": ptr("5")}), kerr.InvalidConfig},
		{newCreatableTopic("null-value", 1, 1, map[string]*string{"retention.ms": nil}), kerr.InvalidConfig},
		{assign(newCreatableTopic("manual-with-count", 2, -1, nil), []int32{1}), kerr.InvalidRequest},
		{assign(newCreatableTopic("manual-unknown-broker", -1, -1, nil), []int32{7}), kerr.InvalidReplicaAssignment},
		{nonConsecutive, kerr.InvalidReplicaAssignment},
		{newCreatableTopic("__cluster_metadata", 1, 1, nil), kerr.InvalidRequest},
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	for _, tt := range tests {
		req.Topics = append(req.Topics, tt.topic)
	}
	// A name given twice is refused, and answered once.
	req.Topics = append(req.Topics, newCreatableTopic("dup", 1, 1, nil), newCreatableTopic("dup", 1, 1, nil))
	resp := send[*kmsg.CreateTopicsResponse](t, tn.client(), req)

	answers := map[string][]kmsg.CreateTopicsResponseTopic{}
	for _, st := range resp.Topics {
		answers[st.Topic] = append(answers[st.Topic], st)
	}
	for _, tt := range tests {
		got := answers[tt.topic.Topic]
		if len(got) != 1 {
			t.Fatalf("%s answered %d times", tt.topic.Topic, len(got))
		}
		wantCode(t, tt.topic.Topic, got[0].ErrorCode, tt.want)
		if tt.want != nil && got[0].ErrorMessage == nil {
			t.Errorf("%s: error without a message", tt.topic.Topic)
		}
	}
	if got := answers["dup"]; len(got) != 1 || got[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("duplicate name answered %+v, want one INVALID_REQUEST", got)
	}
	if partitionCount(t, cl, "dup") != -1 || partitionCount(t, cl, "lags") != -1 {
		t.Fatal("a refused topic was created")
	}
	if got := partitionCount(t, cl, "defaults"); got != 1 {
		t.Fatalf("topic with broker defaults has %d partitions, want num.partitions=1", got)
	}
	if got := partitionCount(t, cl, "manual"); got != 2 {
		t.Fatalf("manually assigned topic has %d partitions, want 2", got)
	}
}

func TestCreateTopicsValidateOnlyCreatesNothing(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	resp, err := adm.ValidateCreateTopics(adminCtx(t), 4, 1, map[string]*string{"retention.ms": ptr("1000")}, "dry")
	if err != nil || resp["dry"].Err != nil {
		t.Fatalf("validate create: %v %v", err, resp["dry"].Err)
	}
	if resp["dry"].NumPartitions != 4 {
		t.Fatalf("validate-only answered %d partitions, want 4", resp["dry"].NumPartitions)
	}
	if got := partitionCount(t, cl, "dry"); got != -1 {
		t.Fatalf("validate-only created the topic (%d partitions)", got)
	}
	bad, err := adm.ValidateCreateTopics(adminCtx(t), 0, 1, nil, "dry")
	if err != nil || !errors.Is(bad["dry"].Err, kerr.InvalidPartitions) {
		t.Fatalf("validate-only with 0 partitions: %v %v", err, bad["dry"].Err)
	}
}

func TestDeleteTopicsByNameAndID(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	for _, name := range []string{"del-name", "del-id", "del-both"} {
		createTopic(t, adm, name, 2, nil)
	}
	produceSync(t, cl, "del-name", "before", 20)

	// By name, with kadm (v6, name only).
	dresp, err := adm.DeleteTopics(adminCtx(t), "del-name")
	if err != nil || dresp["del-name"].Err != nil {
		t.Fatalf("delete by name: %v %v", err, dresp["del-name"].Err)
	}
	if partitionCount(t, cl, "del-name") != -1 {
		t.Fatal("deleted topic still in metadata")
	}

	// By ID, and the error paths of v6.
	id := topicID(t, cl, "del-id")
	both := kmsg.NewDeleteTopicsRequestTopic()
	both.Topic, both.TopicID = ptr("del-both"), topicID(t, cl, "del-both")
	byID := kmsg.NewDeleteTopicsRequestTopic()
	byID.TopicID = id
	unknownID := kmsg.NewDeleteTopicsRequestTopic()
	unknownID.TopicID = [16]byte{0xfe, 1}
	unknownName := kmsg.NewDeleteTopicsRequestTopic()
	unknownName.Topic = ptr("never-created")
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10000
	req.Topics = []kmsg.DeleteTopicsRequestTopic{byID, unknownID, unknownName, both}
	resp := send[*kmsg.DeleteTopicsResponse](t, pinnedClient(t, tn.addr(), 20, 6), req)
	if len(resp.Topics) != 4 {
		t.Fatalf("%d answers, want 4", len(resp.Topics))
	}
	for _, st := range resp.Topics {
		switch {
		case st.TopicID == id:
			wantCode(t, "delete by ID", st.ErrorCode, nil)
			if st.Topic == nil || *st.Topic != "del-id" {
				t.Fatalf("delete by ID answered name %v", st.Topic)
			}
		case st.TopicID == unknownID.TopicID:
			wantCode(t, "unknown ID", st.ErrorCode, kerr.UnknownTopicID)
			if st.Topic != nil {
				t.Fatalf("unknown ID answered with name %q", *st.Topic)
			}
		case st.Topic != nil && *st.Topic == "never-created":
			wantCode(t, "unknown name", st.ErrorCode, kerr.UnknownTopicOrPartition)
		case st.Topic != nil && *st.Topic == "del-both":
			wantCode(t, "name and ID", st.ErrorCode, kerr.InvalidRequest)
		default:
			t.Fatalf("unexpected answer %+v", st)
		}
	}
	if partitionCount(t, cl, "del-id") != -1 || partitionCount(t, cl, "del-both") == -1 {
		t.Fatal("wrong topics deleted")
	}

	// Every version before v6 deletes by name.
	for _, v := range versionsOf(1, 5) {
		name := fmt.Sprintf("del-v%d", v)
		createTopic(t, adm, name, 1, nil)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10000
		req.TopicNames = []string{name}
		resp := send[*kmsg.DeleteTopicsResponse](t, pinnedClient(t, tn.addr(), 20, v), req)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != name {
			t.Fatalf("v%d: answers %+v", v, resp.Topics)
		}
		wantCode(t, name, resp.Topics[0].ErrorCode, nil)
		if partitionCount(t, cl, name) != -1 {
			t.Fatalf("v%d: topic not deleted", v)
		}
	}

	// A re-created topic starts empty: the old partitions' data is gone.
	createTopic(t, adm, "del-name", 2, nil)
	if got := endOffsets(t, tn.addr(), "del-name"); got != 0 {
		t.Fatalf("re-created topic has end offsets summing to %d, want 0", got)
	}
}

func TestDeleteTopicsDisabled(t *testing.T) {
	tn := startNode(t, "delete.topic.enable=false")
	adm := tn.admin()
	cl := tn.client()
	createTopic(t, adm, "kept", 1, nil)
	for _, v := range versionsOf(1, 6) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10000
		if v < 6 {
			req.TopicNames = []string{"kept"}
		} else {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = ptr("kept")
			req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
		}
		resp := send[*kmsg.DeleteTopicsResponse](t, pinnedClient(t, tn.addr(), 20, v), req)
		want := kerr.TopicDeletionDisabled
		if v < 3 {
			want = kerr.InvalidRequest
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("v%d: %d answers", v, len(resp.Topics))
		}
		wantCode(t, "delete with deletion disabled", resp.Topics[0].ErrorCode, want)
	}
	if partitionCount(t, cl, "kept") != 1 {
		t.Fatal("topic deleted although delete.topic.enable=false")
	}
}

func TestCreatePartitions(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	cl := tn.client()
	createTopic(t, adm, "grow", 1, nil)

	resp, err := adm.CreatePartitions(adminCtx(t), 2, "grow")
	if err != nil || resp["grow"].Err != nil {
		t.Fatalf("add 2 partitions: %v %v", err, resp["grow"].Err)
	}
	if got := partitionCount(t, cl, "grow"); got != 3 {
		t.Fatalf("%d partitions after adding 2 to 1", got)
	}
	// The new partition takes records.
	producer := tn.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := producer.ProduceSync(adminCtx(t), &kgo.Record{Topic: "grow", Partition: 2, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new partition: %v", err)
	}

	for _, tt := range []struct {
		name string
		run  func() (kadm.CreatePartitionsResponses, error)
		want *kerr.Error
	}{
		{"shrink", func() (kadm.CreatePartitionsResponses, error) { return adm.UpdatePartitions(adminCtx(t), 2, "grow") }, kerr.InvalidPartitions},
		{"same count", func() (kadm.CreatePartitionsResponses, error) { return adm.UpdatePartitions(adminCtx(t), 3, "grow") }, kerr.InvalidPartitions},
		{"validate only", func() (kadm.CreatePartitionsResponses, error) {
			return adm.ValidateCreatePartitions(adminCtx(t), 5, "grow")
		}, nil},
	} {
		r, err := tt.run()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := r["grow"].Err; !(tt.want == nil && got == nil || tt.want != nil && errors.Is(got, tt.want)) {
			t.Fatalf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := partitionCount(t, cl, "grow"); got != 3 {
		t.Fatalf("%d partitions after refused and validate-only requests, want 3", got)
	}

	// Raw requests: every version, manual assignments, unknown topics,
	// duplicates.
	for _, v := range versionsOf(0, 3) {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", int32(4+v)
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = []int32{1}
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{a}
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		r := send[*kmsg.CreatePartitionsResponse](t, pinnedClient(t, tn.addr(), 37, v), req)
		if len(r.Topics) != 1 {
			t.Fatalf("v%d: %d answers", v, len(r.Topics))
		}
		wantCode(t, "grow by one", r.Topics[0].ErrorCode, nil)
	}
	if got := partitionCount(t, cl, "grow"); got != 7 {
		t.Fatalf("%d partitions, want 7", got)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10000
	wrongCount := kmsg.NewCreatePartitionsRequestTopic()
	wrongCount.Topic, wrongCount.Count = "grow", 9
	wrongCount.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1}}}
	unknownBroker := kmsg.NewCreatePartitionsRequestTopic()
	createTopic(t, adm, "grow-2", 1, nil)
	unknownBroker.Topic, unknownBroker.Count = "grow-2", 2
	unknownBroker.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{9}}}
	unknown := kmsg.NewCreatePartitionsRequestTopic()
	unknown.Topic, unknown.Count = "no-such-topic", 2
	dup := kmsg.NewCreatePartitionsRequestTopic()
	dup.Topic, dup.Count = "dup", 2
	req.Topics = []kmsg.CreatePartitionsRequestTopic{wrongCount, unknownBroker, unknown, dup, dup}
	r := send[*kmsg.CreatePartitionsResponse](t, tn.client(), req)
	want := map[string]*kerr.Error{
		"grow":          kerr.InvalidReplicaAssignment,
		"grow-2":        kerr.InvalidReplicaAssignment,
		"no-such-topic": kerr.UnknownTopicOrPartition,
		"dup":           kerr.InvalidRequest,
	}
	if len(r.Topics) != len(want) {
		t.Fatalf("%d answers, want %d (a duplicate answered once)", len(r.Topics), len(want))
	}
	for _, st := range r.Topics {
		wantCode(t, st.Topic, st.ErrorCode, want[st.Topic])
		if st.ErrorMessage == nil {
			t.Errorf("%s: error without a message", st.Topic)
		}
	}
}

func TestInitProducerID(t *testing.T) {
	tn := startNode(t)
	seen := map[int64]bool{}
	initPID := func(v int16, txn *string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txn, pid, epoch
		req.TransactionTimeoutMillis = 60000
		return send[*kmsg.InitProducerIDResponse](t, pinnedClient(t, tn.addr(), 22, v), req)
	}
	for _, v := range versionsOf(0, 5) {
		resp := initPID(v, nil, -1, -1)
		wantCode(t, "idempotent producer", resp.ErrorCode, nil)
		if resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("v%d: producer ID %d epoch %d (seen before: %v)", v, resp.ProducerID, resp.ProducerEpoch, seen[resp.ProducerID])
		}
		seen[resp.ProducerID] = true
	}
	// v3+: naming the current producer gets a fresh ID (no transactional
	// state to bump); a producer ID without an epoch is malformed.
	var last int64
	for id := range seen {
		last = max(last, id)
	}
	if resp := initPID(5, nil, last, 0); resp.ErrorCode != 0 || seen[resp.ProducerID] || resp.ProducerEpoch != 0 {
		t.Fatalf("re-init of producer %d: %+v", last, resp)
	} else {
		seen[resp.ProducerID] = true
	}
	wantCode(t, "producer ID without epoch", initPID(3, nil, last, -1).ErrorCode, kerr.InvalidRequest)
	wantCode(t, "epoch without producer ID", initPID(4, nil, -1, 2).ErrorCode, kerr.InvalidRequest)
	wantCode(t, "empty transactional ID", initPID(5, ptr(""), -1, -1).ErrorCode, kerr.InvalidRequest)
	if resp := initPID(5, ptr("txn"), -1, -1); resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.ProducerID != -1 {
		t.Fatalf("transactional ID: %+v, want COORDINATOR_NOT_AVAILABLE", resp)
	}

	// IDs are never handed out twice, across a restart too.
	tn.restart()
	for range 3 {
		resp := initPID(5, nil, -1, -1)
		wantCode(t, "after restart", resp.ErrorCode, nil)
		if seen[resp.ProducerID] {
			t.Fatalf("producer ID %d handed out again after a restart", resp.ProducerID)
		}
		seen[resp.ProducerID] = true
	}

	// An idempotent client gets its ID this way and produces.
	createTopic(t, tn.admin(), "idem", 1, nil)
	produceSync(t, tn.client(), "idem", "x", 10)
}

func TestDescribeCluster(t *testing.T) {
	tn := startNode(t)
	meta, err := tn.admin().BrokerMetadata(adminCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versionsOf(0, 2) {
		cl := pinnedClient(t, tn.addr(), 60, v)
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = true
		resp := send[*kmsg.DescribeClusterResponse](t, cl, req)
		wantCode(t, "describe cluster", resp.ErrorCode, nil)
		if resp.ClusterID != meta.Cluster || resp.ControllerID != 1 {
			t.Fatalf("v%d: cluster %q controller %d; metadata says %q", v, resp.ClusterID, resp.ControllerID, meta.Cluster)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Host != "127.0.0.1" || int(resp.Brokers[0].Port) != tn.port || resp.Brokers[0].IsFenced {
			t.Fatalf("v%d: brokers %+v", v, resp.Brokers)
		}
		if resp.ClusterAuthorizedOperations != math.MinInt32 {
			t.Fatalf("v%d: authorized operations %d without asking", v, resp.ClusterAuthorizedOperations)
		}
		req.IncludeClusterAuthorizedOperations = true
		resp = send[*kmsg.DescribeClusterResponse](t, cl, req)
		ops := kadm.DecodeACLOperations(resp.ClusterAuthorizedOperations)
		if !slices.Contains(ops, kmsg.ACLOperationDescribe) || !slices.Contains(ops, kmsg.ACLOperationAlter) {
			t.Fatalf("v%d: cluster authorized operations %v", v, ops)
		}
		if v >= 1 && resp.EndpointType != 1 {
			t.Fatalf("v%d: endpoint type %d", v, resp.EndpointType)
		}
	}
	// A broker listener does not describe the controllers (KIP-919).
	cl := pinnedClient(t, tn.addr(), 60, 1)
	for _, tt := range []struct {
		endpoint int8
		want     *kerr.Error
	}{{2, kerr.MismatchedEndpointType}, {9, kerr.UnsupportedEndpointType}} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType = tt.endpoint
		resp := send[*kmsg.DescribeClusterResponse](t, cl, req)
		wantCode(t, "endpoint type", resp.ErrorCode, tt.want)
		if resp.ErrorMessage == nil || len(resp.Brokers) != 0 {
			t.Fatalf("endpoint type %d: %+v", tt.endpoint, resp)
		}
	}
}
