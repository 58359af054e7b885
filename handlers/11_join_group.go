package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// JoinGroup: v0-v9. Kafka 4.0.0 dropped v0-v1 (KIP-896) and 4.0.1/4.1 put
// them back (KAFKA-19444: older librdkafka with Kerberos sends v0), so the
// full range is served. v4+ answer a first join with MEMBER_ID_REQUIRED
// (KIP-394). The call parks until the rebalance completes or the rebalance
// timeout passes, so it runs in Reply.Wait.
var joinGroupAPI = api{key: 11, min: 0, max: 9, handle: (*Handlers).joinGroup}

func (h *Handlers) joinGroup(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.JoinGroupRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.JoinGroup(ctx, r) })
}
