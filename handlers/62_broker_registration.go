package handlers

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// BrokerRegistration: v0-v4, CONTROLLER listener only. A broker registers
// its listeners and incarnation with the active controller and gets a
// broker epoch; it starts fenced and is unfenced by a heartbeat once its
// metadata has caught up (KIP-631). A broker that does not know the cluster
// ID yet (a new broker-only node) sends an empty one and learns it from the
// metadata it then replicates.
var brokerRegistrationAPI = api{key: 62, min: 0, max: 4, handle: (*Handlers).brokerRegistration}

func (h *Handlers) brokerRegistration(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.BrokerRegistrationRequest)
	resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	reg := controller.BrokerRegistration{
		NodeID:        r.BrokerID,
		ClusterID:     r.ClusterID,
		IncarnationID: r.IncarnationID,
	}
	if reg.ClusterID == "" {
		reg.ClusterID = h.d.Controller.Image().ClusterID
	}
	if r.Rack != nil {
		reg.Rack = *r.Rack
	}
	for _, l := range r.Listeners {
		if l.SecurityProtocol != 0 {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return respond(resp)
		}
		reg.Listeners = append(reg.Listeners, controller.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	epoch, err := h.d.Controller.RegisterBroker(ctx, reg)
	if err != nil {
		resp.ErrorCode = h.code(fmt.Errorf("register broker %d: %w", r.BrokerID, err))
		return respond(resp)
	}
	resp.BrokerEpoch = epoch
	// A broker that is not a voter follows the metadata log as a raft
	// observer at its first listener's address.
	if !h.isVoter(r.BrokerID) && len(reg.Listeners) > 0 {
		l := reg.Listeners[0]
		if err := h.d.Controller.AddObserver(ctx, r.BrokerID, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))); err != nil {
			resp.ErrorCode = h.code(fmt.Errorf("add broker %d as metadata observer: %w", r.BrokerID, err))
		}
	}
	return respond(resp)
}

// isVoter reports whether id is in controller.quorum.voters.
func (h *Handlers) isVoter(id int32) bool {
	for _, v := range h.d.Config.ControllerQuorumVoters {
		if v.ID == id {
			return true
		}
	}
	return false
}
