package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// UnregisterBroker: v0, CONTROLLER listener. Removes a (dead) broker's
// registration so an operator can replace it (KIP-631); its partitions are
// treated as on a fenced broker.
var unregisterBrokerAPI = api{key: 64, min: 0, max: 0, handle: (*Handlers).unregisterBroker}

func (h *Handlers) unregisterBroker(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.UnregisterBrokerRequest)
	resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if err := h.d.Controller.UnregisterBroker(ctx, r.BrokerID); err != nil {
		resp.ErrorCode, resp.ErrorMessage = h.errorCode(err)
		return respond(resp)
	}
	if !h.isVoter(r.BrokerID) {
		// It no longer follows the metadata log; a failure here only
		// leaves a silent observer behind, so it is logged, not returned.
		if err := h.d.Controller.RemoveObserver(ctx, r.BrokerID); err != nil {
			h.d.Logger.Warn("remove unregistered broker from the metadata observers", "node.id", r.BrokerID, "err", err)
		}
	}
	return respond(resp)
}
