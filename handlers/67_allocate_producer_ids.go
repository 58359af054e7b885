package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// AllocateProducerIds: v0, CONTROLLER listener only. Hands a broker a block
// of producer IDs committed to the metadata log first, so no ID is ever
// given out twice (KIP-730).
var allocateProducerIDsAPI = api{key: 67, min: 0, max: 0, handle: (*Handlers).allocateProducerIDs}

func (h *Handlers) allocateProducerIDs(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.AllocateProducerIDsRequest)
	resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	first, n, err := h.d.Controller.AllocateProducerIDs(ctx, r.BrokerID, r.BrokerEpoch)
	if err != nil {
		resp.ErrorCode = h.code(err)
		return respond(resp)
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, n
	return respond(resp)
}
