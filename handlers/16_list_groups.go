package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// ListGroups: v0-v5, Kafka 4.0's range. Each broker lists the groups it
// coordinates (clients ask every broker); v4 filters by state (KIP-518),
// v5 by type (KIP-848: samsa's groups are all "classic").
var listGroupsAPI = api{key: 16, min: 0, max: 5, handle: (*Handlers).listGroups}

func (h *Handlers) listGroups(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.ListGroups(ctx, r) })
}
