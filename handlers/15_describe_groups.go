package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// DescribeGroups: v0-v6, Kafka 4.0's range; v6 adds an error message per
// group (KIP-1043).
var describeGroupsAPI = api{key: 15, min: 0, max: 6, handle: (*Handlers).describeGroups}

func (h *Handlers) describeGroups(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.DescribeGroups(ctx, r) })
}
