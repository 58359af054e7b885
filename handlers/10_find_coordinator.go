package handlers

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/group"
	"github.com/samsa-broker/samsa/protocol"
)

// FindCoordinator: v0-v6, Kafka 4.0's range. v0-v3 ask for one key and
// answer at the top level; v4+ ask for a batch (KIP-699) and answer per
// key. v1+ name the key type.
//
// A group's coordinator is the leader of its __consumer_offsets partition
// (group.Coordinator.PartitionFor), answered with its endpoint on the
// listener the request came in on, as Kafka's KafkaApis.getCoordinator
// does. No topic yet: the broker asks the active controller to create it,
// like Kafka's AutoTopicCreationManager, and answers COORDINATOR_NOT_AVAILABLE
// unless the topic and a leader show up in this node's image within the
// wait. A partition without a live leader is COORDINATOR_NOT_AVAILABLE too.
//
// Key types: only 0 (group). samsa has no transaction coordinator and no
// share groups; Kafka answers INVALID_REQUEST for a key type it has no
// coordinator for (CoordinatorType.forId, and share keys while share groups
// are disabled), so that is the answer for 1 and 2. A transactional kgo
// producer then fails at once instead of retrying forever.
var findCoordinatorAPI = api{key: 10, min: 0, max: 6, handle: (*Handlers).findCoordinator}

// coordinatorTypeGroup is FindCoordinator's key type for consumer groups.
const coordinatorTypeGroup = 0

func (h *Handlers) findCoordinator(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	img := h.d.Controller.Image()
	if _, ok := img.Topic(group.OffsetsTopic); ok || r.CoordinatorType != coordinatorTypeGroup {
		return respond(h.buildFindCoordinator(req, img))
	}
	// Creating goes through the active controller: off the read goroutine.
	return protocol.Reply{Wait: func() kmsg.Response {
		h.ensureOffsetsTopic(ctx)
		return h.buildFindCoordinator(req, h.d.Controller.Image())
	}}, nil
}

// buildFindCoordinator answers every key of the request from one image.
func (h *Handlers) buildFindCoordinator(req *protocol.Request, img *controller.Image) *kmsg.FindCoordinatorResponse {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := r.CoordinatorKeys
	if r.Version < 4 {
		keys = []string{r.CoordinatorKey}
	}
	listener := h.listenerOf(req)
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		var err error
		if r.CoordinatorType != coordinatorTypeGroup {
			err = fmt.Errorf("%w: coordinator key type %d is not served: samsa has only a group coordinator (type 0)", kerr.InvalidRequest, r.CoordinatorType)
		} else {
			c.NodeID, c.Host, c.Port, err = groupCoordinatorEndpoint(img, h.d.Groups.PartitionFor(key), listener)
		}
		if err != nil {
			// Kafka answers an error with Node.noNode().
			c.NodeID, c.Host, c.Port = -1, "", -1
			c.ErrorCode, c.ErrorMessage = h.errorCode(err)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if r.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	}
	return resp
}

// groupCoordinatorEndpoint finds the leader of __consumer_offsets
// partition p and its address on the named listener. Kafka requires the
// leader to be alive (MetadataCache.getAliveBrokerNode): a fenced leader,
// or one without that listener, is no coordinator.
func groupCoordinatorEndpoint(img *controller.Image, p int32, listener string) (id int32, host string, port int32, err error) {
	pi, ok := img.Partition(group.OffsetsTopic, p)
	switch {
	case !ok:
		if _, exists := img.Topic(group.OffsetsTopic); !exists {
			return 0, "", 0, fmt.Errorf("%w: %s does not exist yet", kerr.CoordinatorNotAvailable, group.OffsetsTopic)
		}
		return 0, "", 0, fmt.Errorf("%w: %s has no partition %d (offsets.topic.num.partitions differs from the topic's partition count)", kerr.CoordinatorNotAvailable, group.OffsetsTopic, p)
	case pi.Leader < 0:
		return 0, "", 0, fmt.Errorf("%w: %s-%d has no leader", kerr.CoordinatorNotAvailable, group.OffsetsTopic, p)
	}
	b, ok := img.Broker(pi.Leader)
	if !ok || b.Fenced {
		return 0, "", 0, fmt.Errorf("%w: leader %d of %s-%d is not alive", kerr.CoordinatorNotAvailable, pi.Leader, group.OffsetsTopic, p)
	}
	host, port, ok = brokerEndpoint(b, listener)
	if !ok {
		return 0, "", 0, fmt.Errorf("%w: leader %d of %s-%d has no %s listener", kerr.CoordinatorNotAvailable, pi.Leader, group.OffsetsTopic, p, listener)
	}
	return pi.Leader, host, port, nil
}
