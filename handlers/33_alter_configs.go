package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// AlterConfigs: v0-v2, Kafka 4.0's range. The legacy API: each resource's
// configs replace all of its dynamic overrides (keys not given are
// removed). TOPIC and BROKER resources; a broker resource is "" (the
// cluster-wide defaults) or this node's ID, and takes only keys Kafka can
// change at run time. ValidateOnly changes nothing.
//
// Like a Kafka broker, samsa first applies ConfigAdminManager.preprocess's
// checks (a resource named twice, a key named twice, a null value, another
// broker's ID, an unsupported resource type: INVALID_REQUEST), then the
// controller validates keys and values (ConfigurationControlManager) and
// commits every resource that passes in one metadata entry. Each resource
// is answered with its own error code and message, in request order.
var alterConfigsAPI = api{key: 33, min: 0, max: 2, handle: (*Handlers).alterConfigs}

func (h *Handlers) alterConfigs(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			code, msg := h.errorCode(err)
			resp := kr.(*kmsg.AlterConfigsResponse)
			for _, rr := range r.Resources {
				res := kmsg.NewAlterConfigsResponseResource()
				res.ResourceType, res.ResourceName, res.ErrorCode, res.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
				resp.Resources = append(resp.Resources, res)
			}
		}, nil)
	}

	alts := make([]configAlteration, len(r.Resources))
	for i, rr := range r.Resources {
		alts[i].resource = controller.ConfigResource{Type: int8(rr.ResourceType), Name: rr.ResourceName}
		for _, c := range rr.Configs {
			alts[i].ops = append(alts[i].ops, controller.ConfigOp{Name: c.Name, Op: kmsg.IncrementalAlterConfigOpSet, Value: cloneString(c.Value)})
		}
	}
	errs := h.alterConfigResources(ctx, alts, false, r.ValidateOnly)
	for i, rr := range r.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if errs[i] != nil {
			res.ErrorCode, res.ErrorMessage = h.errorCode(errs[i])
		}
		resp.Resources = append(resp.Resources, res)
	}
	return respond(resp)
}

// configAlteration is one resource of AlterConfigs or
// IncrementalAlterConfigs.
type configAlteration struct {
	resource controller.ConfigResource
	ops      []controller.ConfigOp
}

// alterConfigResources runs the broker-side checks on every resource, sends
// those that pass to the controller in one call, and returns each
// resource's error (nil when altered) in request order.
func (h *Handlers) alterConfigResources(ctx context.Context, alts []configAlteration, incremental, validateOnly bool) []error {
	errs := make([]error, len(alts))
	count := make(map[controller.ConfigResource]int, len(alts))
	for _, a := range alts {
		count[a.resource]++
	}
	var (
		changes []controller.ConfigChange
		index   []int
	)
	for i, a := range alts {
		if count[a.resource] > 1 {
			errs[i] = fmt.Errorf("%w: Each resource must appear at most once.", kerr.InvalidRequest)
			continue
		}
		if err := h.preprocessConfigAlteration(a, incremental); err != nil {
			errs[i] = err
			continue
		}
		changes = append(changes, controller.ConfigChange{Resource: a.resource, Ops: a.ops})
		index = append(index, i)
	}
	if len(changes) == 0 {
		return errs
	}
	for j, res := range h.d.Controller.AlterConfigs(ctx, changes, incremental, validateOnly) {
		errs[index[j]] = res.Err
	}
	return errs
}

// preprocessConfigAlteration applies the checks a Kafka broker makes before
// it forwards a config change to the controller
// (ConfigAdminManager.preprocess).
func (h *Handlers) preprocessConfigAlteration(a configAlteration, incremental bool) error {
	seen := make(map[string]bool, len(a.ops))
	var nulls []string
	for _, op := range a.ops {
		if seen[op.Name] {
			return fmt.Errorf("%w: Error due to duplicate config keys", kerr.InvalidRequest)
		}
		seen[op.Name] = true
		// Only an incremental DELETE goes without a value.
		if op.Value == nil && (!incremental || op.Op != kmsg.IncrementalAlterConfigOpDelete) {
			nulls = append(nulls, op.Name)
		}
	}
	if len(nulls) > 0 {
		return fmt.Errorf("%w: Null value not supported for : %s", kerr.InvalidRequest, strings.Join(nulls, ", "))
	}
	if incremental {
		for _, op := range a.ops {
			if op.Op < kmsg.IncrementalAlterConfigOpSet || op.Op > kmsg.IncrementalAlterConfigOpSubtract {
				return fmt.Errorf("%w: Unknown operations type %d", kerr.InvalidRequest, op.Op)
			}
		}
	}
	switch kmsg.ConfigResourceType(a.resource.Type) {
	case kmsg.ConfigResourceTypeTopic:
		return nil
	case kmsg.ConfigResourceTypeBroker:
		// The broker answering takes its own resource or the cluster-wide
		// defaults; another broker's resource goes to that broker.
		if a.resource.Name == "" {
			return nil
		}
		return h.checkCurrentNodeID(a.resource.Name)
	case kmsg.ConfigResourceTypeBrokerLogger:
		if !incremental {
			// Legacy AlterConfigs never supported BROKER_LOGGER.
			return fmt.Errorf("%w: Unknown resource type %d", kerr.InvalidRequest, a.resource.Type)
		}
		if err := h.checkCurrentNodeID(a.resource.Name); err != nil {
			return err
		}
		return fmt.Errorf("%w: samsa has no per-logger log levels to change (BROKER_LOGGER); its level is samsa.log.level, set at start-up", kerr.InvalidRequest)
	}
	return fmt.Errorf("%w: Unknown resource type %d", kerr.InvalidRequest, a.resource.Type)
}

// checkCurrentNodeID is ConfigAdminManager.validateResourceNameIsCurrentNodeId.
func (h *Handlers) checkCurrentNodeID(name string) error {
	id, err := brokerResourceID(name, "Node")
	if err != nil {
		return err
	}
	// Requests reach the controller forwarded from any broker; the
	// registered-broker check there replaces this one.
	if id != h.d.NodeID && !h.controllerRole {
		return fmt.Errorf("%w: Unexpected broker id, expected %d, but received %s", kerr.InvalidRequest, h.d.NodeID, name)
	}
	return nil
}
