package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// Heartbeat: v0-v4, Kafka 4.0's range. An answer of REBALANCE_IN_PROGRESS
// is how members learn that they must join again.
var heartbeatAPI = api{key: 12, min: 0, max: 4, handle: (*Handlers).heartbeat}

func (h *Handlers) heartbeat(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.HeartbeatRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.Heartbeat(ctx, r) })
}
