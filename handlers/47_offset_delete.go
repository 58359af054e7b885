package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// OffsetDelete: v0, Kafka 4.0's range (KIP-496). A group's offsets for
// partitions it is not subscribed to may be deleted
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
var offsetDeleteAPI = api{key: 47, min: 0, max: 0, handle: (*Handlers).offsetDelete}

func (h *Handlers) offsetDelete(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.OffsetDelete(ctx, r) })
}
