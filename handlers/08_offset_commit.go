package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// OffsetCommit: v2-v9, Kafka 4.0's range (KIP-896 removed v0-v1). v10
// names topics by ID for the KIP-848 consumer protocol, which samsa does
// not serve. The coordinator appends the commit to __consumer_offsets and
// answers once it is replicated or offsets.commit.timeout.ms passes.
var offsetCommitAPI = api{key: 8, min: 2, max: 9, handle: (*Handlers).offsetCommit}

func (h *Handlers) offsetCommit(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.OffsetCommit(ctx, r) })
}
