package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// IncrementalAlterConfigs: v0-v1 (KIP-339), Kafka 4.0's range. Each config
// of a TOPIC or BROKER resource is one operation on its dynamic override:
// SET (0) a value, DELETE (1) the override, APPEND (2) or SUBTRACT (3)
// elements of a list-typed key (starting from the key's default when it has
// no override; INVALID_CONFIG on other keys). Only DELETE may carry a null
// value. The broker-side checks, the controller's validation and the
// per-resource answers are those of AlterConfigs (33_alter_configs.go); an
// unknown operation is INVALID_REQUEST. ValidateOnly changes nothing.
//
// BROKER_LOGGER (KIP-412) is checked for this node's ID and then refused
// with INVALID_REQUEST: samsa has no per-logger levels to change.
var incrementalAlterConfigsAPI = api{key: 44, min: 0, max: 1, handle: (*Handlers).incrementalAlterConfigs}

func (h *Handlers) incrementalAlterConfigs(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			code, msg := h.errorCode(err)
			resp := kr.(*kmsg.IncrementalAlterConfigsResponse)
			for _, rr := range r.Resources {
				res := kmsg.NewIncrementalAlterConfigsResponseResource()
				res.ResourceType, res.ResourceName, res.ErrorCode, res.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
				resp.Resources = append(resp.Resources, res)
			}
		}, nil)
	}

	alts := make([]configAlteration, len(r.Resources))
	for i, rr := range r.Resources {
		alts[i].resource = controller.ConfigResource{Type: int8(rr.ResourceType), Name: rr.ResourceName}
		for _, c := range rr.Configs {
			alts[i].ops = append(alts[i].ops, controller.ConfigOp{Name: c.Name, Op: c.Op, Value: cloneString(c.Value)})
		}
	}
	errs := h.alterConfigResources(ctx, alts, true, r.ValidateOnly)
	for i, rr := range r.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if errs[i] != nil {
			res.ErrorCode, res.ErrorMessage = h.errorCode(errs[i])
		}
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}
