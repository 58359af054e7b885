package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// ConsumerGroupDescribe: v0-v1 (KIP-848; v1 adds the member type,
// KIP-1099), Kafka 4.0's range.
var consumerGroupDescribeAPI = api{key: 69, min: 0, max: 1, handle: (*Handlers).consumerGroupDescribe}

func (h *Handlers) consumerGroupDescribe(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.ConsumerGroupDescribe(ctx, r) })
}
