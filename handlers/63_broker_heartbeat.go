package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// BrokerHeartbeat: v0-v2, CONTROLLER listener only. Keeps a broker's
// session alive, reports how far its metadata has caught up (which unfences
// it), and carries controlled shutdown (WantShutDown until the controller
// answers ShouldShutDown, once leadership has moved away, KIP-631).
var brokerHeartbeatAPI = api{key: 63, min: 0, max: 2, handle: (*Handlers).brokerHeartbeat}

func (h *Handlers) brokerHeartbeat(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.BrokerHeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	res, err := h.d.Controller.BrokerHeartbeat(ctx, controller.BrokerHeartbeat{
		NodeID:                r.BrokerID,
		BrokerEpoch:           r.BrokerEpoch,
		CurrentMetadataOffset: r.CurrentMetadataOffset,
		WantFence:             r.WantFence,
		WantShutDown:          r.WantShutdown,
	})
	if err != nil {
		resp.ErrorCode = h.code(err)
		resp.IsFenced = true
		return respond(resp)
	}
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutDown
	return respond(resp)
}
