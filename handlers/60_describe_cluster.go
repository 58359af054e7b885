package handlers

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// DescribeCluster: v0-v2 (KIP-700), Kafka 4.0's range. Follows Kafka's
// AuthHelper.computeDescribeClusterResponse: a broker listener describes the
// brokers (endpoint type 1) and a controller listener the controller quorum
// (endpoint type 2, KIP-919). Asking a listener for the other type is
// MISMATCHED_ENDPOINT_TYPE, an unknown type UNSUPPORTED_ENDPOINT_TYPE (both
// INVALID_REQUEST at v0, which has no endpoint type field).
//
// Brokers are the registered brokers with an endpoint on the request's
// listener, unfenced ones only unless IncludeFencedBrokers (v2). As in KRaft
// the controller ID a broker names is a live broker (this node, which serves
// controller-bound requests), and -1 when it is not in the list. A
// controller listener lists the quorum voters and names the active
// controller, as KIP-919 says. Without an authorizer, ClusterAuthorizedOperations (when
// asked) is every cluster operation.
var describeClusterAPI = api{key: 60, min: 0, max: 2, handle: (*Handlers).describeCluster}

// DescribeCluster endpoint types (Kafka's EndpointType).
const (
	endpointTypeBroker     = 1
	endpointTypeController = 2
)

func (h *Handlers) describeCluster(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)

	listener := h.listenerOf(req)
	served := int8(endpointTypeBroker)
	if slices.Contains(h.d.Config.ControllerListenerNames, listener) {
		served = endpointTypeController
	}
	asked := int8(endpointTypeBroker)
	if r.Version >= 1 {
		asked = r.EndpointType
	}
	var err error
	switch {
	case asked != endpointTypeBroker && asked != endpointTypeController:
		err = fmt.Errorf("%w: Unsupported endpoint type %d", kerr.UnsupportedEndpointType, asked)
	case asked != served:
		err = fmt.Errorf("%w: The request was sent to an endpoint of type %s, but we wanted an endpoint of type %s",
			kerr.MismatchedEndpointType, endpointTypeName(served), endpointTypeName(asked))
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = h.errorCode(err)
		if r.Version == 0 {
			resp.ErrorCode = kerr.InvalidRequest.Code
		}
		return respond(resp)
	}

	img := h.d.Controller.Image()
	resp.EndpointType = served
	resp.ClusterID = img.ClusterID
	if served == endpointTypeBroker {
		resp.Brokers = describeClusterBrokers(img, listener, r.IncludeFencedBrokers)
	} else {
		resp.Brokers = h.describeClusterControllers()
	}
	// The controller ID must name a listed node (Kafka answers -1 otherwise,
	// so clients never look for a node they were not told about).
	resp.ControllerID = -1
	named := h.d.NodeID
	if served == endpointTypeController {
		// Asked for controllers (kafka-metadata-quorum.sh, kadm), the
		// answer names the active one (KIP-919).
		named = -1
		if id, ok := h.d.Controller.ActiveController(); ok {
			named = id
		}
	}
	if slices.ContainsFunc(resp.Brokers, func(b kmsg.DescribeClusterResponseBroker) bool { return b.NodeID == named }) {
		resp.ControllerID = named
	}
	resp.ClusterAuthorizedOperations = authorizedOpsOmitted
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOps
	}
	return respond(resp)
}

// describeClusterBrokers lists the registered brokers that have an endpoint
// on listener, sorted by node ID (Kafka's metadataCache.getBrokerNodes).
func describeClusterBrokers(img *controller.Image, listener string, includeFenced bool) []kmsg.DescribeClusterResponseBroker {
	var out []kmsg.DescribeClusterResponseBroker
	for _, id := range sortedBrokerIDs(img) {
		b := img.Brokers[id]
		if b.Fenced && !includeFenced {
			continue
		}
		host, port, ok := brokerEndpoint(b, listener)
		if !ok {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.IsFenced = id, host, port, b.Fenced
		if b.Rack != "" {
			rack := b.Rack
			db.Rack = &rack
		}
		out = append(out, db)
	}
	return out
}

// describeClusterControllers lists the controller quorum's voters, as
// controller.quorum.voters names them.
func (h *Handlers) describeClusterControllers() []kmsg.DescribeClusterResponseBroker {
	var out []kmsg.DescribeClusterResponseBroker
	for _, v := range h.d.Config.ControllerQuorumVoters {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port = v.ID, v.Host, int32(v.Port)
		out = append(out, db)
	}
	slices.SortFunc(out, func(a, b kmsg.DescribeClusterResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

func endpointTypeName(t int8) string {
	if t == endpointTypeController {
		return "CONTROLLER"
	}
	return "BROKER"
}
