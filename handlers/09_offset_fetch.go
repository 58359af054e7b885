package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// OffsetFetch: v1-v9, Kafka 4.0's range (KIP-896 removed v0). v8+ ask for
// several groups at once; v10 names topics by ID for the KIP-848 consumer
// protocol, which samsa does not serve.
var offsetFetchAPI = api{key: 9, min: 1, max: 9, handle: (*Handlers).offsetFetch}

func (h *Handlers) offsetFetch(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	return h.groupCall(ctx, req, func(ctx context.Context) kmsg.Response { return h.d.Groups.OffsetFetch(ctx, r) })
}
