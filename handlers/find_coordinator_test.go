package handlers

import (
	"context"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	"github.com/samsa-broker/samsa/protocol"
)

func TestGroupCoordinatorEndpoint(t *testing.T) {
	img := controller.EmptyImage()
	img.Brokers[1] = controller.BrokerInfo{NodeID: 1, Listeners: []controller.Endpoint{
		{Name: "PLAINTEXT", Host: "h1", Port: 9092}, {Name: "EXTERNAL", Host: "e1", Port: 19092}}}
	img.Brokers[2] = controller.BrokerInfo{NodeID: 2, Fenced: true, Listeners: []controller.Endpoint{{Name: "PLAINTEXT", Host: "h2", Port: 9092}}}
	offsets := &controller.TopicImage{Name: group.OffsetsTopic, Partitions: []controller.PartitionImage{
		{Replicas: []int32{1, 2}, Leader: 1},
		{Replicas: []int32{2, 1}, Leader: 2},
		{Replicas: []int32{1}, Leader: -1},
		{Replicas: []int32{3}, Leader: 3},
	}}
	withTopic := controller.EmptyImage()
	withTopic.Brokers = img.Brokers
	withTopic.Topics[group.OffsetsTopic] = offsets
	for _, c := range []struct {
		name      string
		img       *controller.Image
		partition int32
		listener  string
		wantID    int32
		wantHost  string
		wantPort  int32
	}{
		{"leader on the request's listener", withTopic, 0, "PLAINTEXT", 1, "h1", 9092},
		{"same leader, other listener", withTopic, 0, "EXTERNAL", 1, "e1", 19092},
		{"leader without that listener", withTopic, 0, "INTERNAL", -1, "", 0},
		{"fenced leader", withTopic, 1, "PLAINTEXT", -1, "", 0},
		{"no leader", withTopic, 2, "PLAINTEXT", -1, "", 0},
		{"unregistered leader", withTopic, 3, "PLAINTEXT", -1, "", 0},
		{"partition beyond the topic", withTopic, 9, "PLAINTEXT", -1, "", 0},
		{"no offsets topic", img, 0, "PLAINTEXT", -1, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, host, port, err := groupCoordinatorEndpoint(c.img, c.partition, c.listener)
			if c.wantID < 0 {
				if !isErr(err, kerr.CoordinatorNotAvailable) {
					t.Fatalf("got node %d, err %v; want COORDINATOR_NOT_AVAILABLE", id, err)
				}
				return
			}
			if err != nil || id != c.wantID || host != c.wantHost || port != c.wantPort {
				t.Fatalf("got %d %s:%d %v, want %d %s:%d", id, host, port, err, c.wantID, c.wantHost, c.wantPort)
			}
		})
	}
}

// findCoordinatorFixture is node 1's broker handlers over a local
// controller with brokers 1 and 2 registered and unfenced.
func findCoordinatorFixture(t *testing.T, props map[string]string) (*Handlers, *controller.Controller, *directForwarder) {
	t.Helper()
	tc := openTestController(t, props, 1, 2)
	groups := group.NewCoordinator(group.Config{NodeID: 1, NumPartitions: tc.broker.OffsetsTopicNumPartitions})
	t.Cleanup(func() { groups.Close() })
	deps := Deps{NodeID: 1, Config: tc.broker, Controller: tc.ctrl, Logger: tc.logger, Groups: groups, WaitMetadata: tc.waitMetadata}
	fwd := &directForwarder{to: NewController(deps)}
	deps.Forward = fwd
	return New(deps), tc.ctrl, fwd
}

// findCoordinatorAt sends one FindCoordinator through the handlers.
func findCoordinatorAt(t *testing.T, h *Handlers, v int16, keyType int8, keys ...string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType = v, keyType
	if v < 4 {
		req.CoordinatorKey = keys[0]
	} else {
		req.CoordinatorKeys = keys
	}
	reply, err := h.Handle(context.Background(), &protocol.Request{Header: protocol.Header{APIKey: 10, APIVersion: v}, Body: req})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Wait != nil {
		return reply.Wait().(*kmsg.FindCoordinatorResponse)
	}
	return reply.Response.(*kmsg.FindCoordinatorResponse)
}

func TestFindCoordinatorCreatesOffsetsTopicOnce(t *testing.T) {
	h, ctrl, fwd := findCoordinatorFixture(t, map[string]string{
		"offsets.topic.replication.factor": "2",
		"offsets.topic.num.partitions":     "5",
		"offsets.topic.segment.bytes":      "1048576",
	})
	// Concurrent first requests share one creation.
	var wg sync.WaitGroup
	resps := make([]*kmsg.FindCoordinatorResponse, 4)
	for i := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i] = findCoordinatorAt(t, h, 4, 0, "g1", "g2")
		}()
	}
	wg.Wait()
	if n := fwd.calls.Load(); n != 1 {
		t.Fatalf("%d CreateTopics forwarded, want 1", n)
	}
	img := ctrl.Image()
	topic, ok := img.Topic(group.OffsetsTopic)
	if !ok || len(topic.Partitions) != 5 || len(topic.Partitions[0].Replicas) != 2 {
		t.Fatalf("offsets topic: %+v (exists %v), want 5 partitions of 2 replicas", topic, ok)
	}
	cfg := img.TopicConfig(group.OffsetsTopic)
	if cfg["cleanup.policy"] != "compact" || cfg["compression.type"] != "producer" || cfg["segment.bytes"] != "1048576" {
		t.Fatalf("offsets topic configs %v", cfg)
	}
	for _, resp := range resps {
		if len(resp.Coordinators) != 2 {
			t.Fatalf("%d coordinators for 2 keys", len(resp.Coordinators))
		}
		for _, c := range resp.Coordinators {
			leader := topic.Partitions[h.d.Groups.PartitionFor(c.Key)].Leader
			if c.ErrorCode != 0 || c.NodeID != leader || c.Host != "localhost" || c.Port != 9000+leader {
				t.Fatalf("coordinator %+v, want node %d at localhost:%d", c, leader, 9000+leader)
			}
		}
	}

	// v0-v3 answer at the top level.
	old := findCoordinatorAt(t, h, 3, 0, "g1")
	if leader := topic.Partitions[h.d.Groups.PartitionFor("g1")].Leader; old.ErrorCode != 0 || old.NodeID != leader || len(old.Coordinators) != 0 {
		t.Fatalf("v3 answer %+v, want node %d at the top level", old, leader)
	}
	// Transaction and share keys have no coordinator here.
	for _, c := range []struct {
		v       int16
		keyType int8
	}{{1, 1}, {3, 1}, {4, 1}, {6, 2}} {
		resp := findCoordinatorAt(t, h, c.v, c.keyType, "k")
		code, node := resp.ErrorCode, resp.NodeID
		if c.v >= 4 {
			code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		if code != kerr.InvalidRequest.Code || node != -1 {
			t.Fatalf("v%d key type %d: %v node %d, want INVALID_REQUEST and node -1", c.v, c.keyType, kerr.ErrorForCode(code), node)
		}
	}
	if n := fwd.calls.Load(); n != 1 {
		t.Fatalf("%d CreateTopics forwarded once the topic existed, want still 1", n)
	}
}

func TestFindCoordinatorWithTooFewBrokersCreatesNothing(t *testing.T) {
	h, ctrl, fwd := findCoordinatorFixture(t, map[string]string{"offsets.topic.replication.factor": "3"})
	resp := findCoordinatorAt(t, h, 2, 0, "g")
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.NodeID != -1 || resp.Host != "" || resp.Port != -1 {
		t.Fatalf("answer %+v, want COORDINATOR_NOT_AVAILABLE with no node", resp)
	}
	if _, ok := ctrl.Image().Topic(group.OffsetsTopic); ok || fwd.calls.Load() != 0 {
		t.Fatalf("offsets topic created (or asked for, %d times) with 2 live brokers and replication factor 3", fwd.calls.Load())
	}
}

func TestFindCoordinatorCreatesThroughLocalControllerWithoutForwarder(t *testing.T) {
	h, ctrl, _ := findCoordinatorFixture(t, map[string]string{"offsets.topic.num.partitions": "2"})
	h.d.Forward = nil
	resp := findCoordinatorAt(t, h, 3, 0, "g")
	topic, ok := ctrl.Image().Topic(group.OffsetsTopic)
	if !ok || len(topic.Partitions) != 2 {
		t.Fatalf("offsets topic %+v (exists %v), want 2 partitions", topic, ok)
	}
	if leader := topic.Partitions[h.d.Groups.PartitionFor("g")].Leader; resp.ErrorCode != 0 || resp.NodeID != leader {
		t.Fatalf("answer %+v, want node %d", resp, leader)
	}
	if cfg := ctrl.Image().TopicConfig(group.OffsetsTopic); cfg["cleanup.policy"] != "compact" {
		t.Fatalf("offsets topic configs %v", cfg)
	}
}
