package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	"github.com/samsa-broker/samsa/protocol"
)

// ConsumerGroupHeartbeat: v0-v1 (KIP-848; v1 adds SubscribedTopicRegex and
// client-generated member IDs, KIP-1082), Kafka 4.0's range. The
// coordinator waits for its records to replicate, so the call runs in
// Reply.Wait. It gets the node's topic metadata: the group's subscribed
// topics are resolved (and regexes matched) against it on each heartbeat.
var consumerGroupHeartbeatAPI = api{key: 68, min: 0, max: 1, handle: (*Handlers).consumerGroupHeartbeat}

func (h *Handlers) consumerGroupHeartbeat(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response {
		return h.d.Groups.ConsumerGroupHeartbeat(ctx, r, imageTopics{h.d.Controller.Image()})
	})
}

// imageTopics shows a metadata image to the group coordinator's assignors.
type imageTopics struct{ img *controller.Image }

func (t imageTopics) TopicByName(name string) (group.TopicInfo, bool) {
	ti, ok := t.img.Topic(name)
	if !ok {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{Name: ti.Name, ID: ti.ID, Partitions: int32(len(ti.Partitions))}, true
}

func (t imageTopics) TopicNames() []string { return t.img.TopicNames() }
