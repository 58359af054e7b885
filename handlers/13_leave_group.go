package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// LeaveGroup: v0-v5, Kafka 4.0's range. v3+ remove a batch of members
// (KIP-345); v5 carries a reason per member (KIP-800).
var leaveGroupAPI = api{key: 13, min: 0, max: 5, handle: (*Handlers).leaveGroup}

func (h *Handlers) leaveGroup(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.LeaveGroup(ctx, r) })
}
