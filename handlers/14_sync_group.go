package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// SyncGroup: v0-v5, Kafka 4.0's range. A follower's SyncGroup parks until
// the leader's SyncGroup brings the assignment (and the coordinator has
// stored it in __consumer_offsets), so it runs in Reply.Wait. v5 requires
// the protocol type and name (KIP-559).
var syncGroupAPI = api{key: 14, min: 0, max: 5, handle: (*Handlers).syncGroup}

func (h *Handlers) syncGroup(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.SyncGroupRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.SyncGroup(ctx, r) })
}
