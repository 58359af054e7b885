package handlers

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// CreatePartitions: v0-v3, Kafka 4.0's range (v2 is flexible, v3 changes
// nothing on the wire). The controller grows each topic to Count partitions
// (Kafka's ReplicationControlManager.createPartitions): unknown topic
// UNKNOWN_TOPIC_OR_PARTITION, a count that does not grow INVALID_PARTITIONS,
// a manual Assignment (one replica list per new partition, with the topic's
// replication factor) checked as in CreateTopics
// (INVALID_REPLICA_ASSIGNMENT); without one the new partitions are spread
// over the live brokers. ValidateOnly changes nothing. A topic named twice is
// INVALID_REQUEST, answered once, as Kafka's ControllerApis does.
var createPartitionsAPI = api{key: 37, min: 0, max: 3, handle: (*Handlers).createPartitions}

func (h *Handlers) createPartitions(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			code, msg := h.errorCode(err)
			resp := kr.(*kmsg.CreatePartitionsResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewCreatePartitionsResponseTopic()
				st.Topic, st.ErrorCode, st.ErrorMessage = rt.Topic, code, msg
				resp.Topics = append(resp.Topics, st)
			}
		}, func(kr kmsg.Response, img *controller.Image) bool {
			if r.ValidateOnly {
				return true
			}
			for i, t := range kr.(*kmsg.CreatePartitionsResponse).Topics {
				if t.ErrorCode != 0 || i >= len(r.Topics) {
					continue
				}
				if ti, ok := img.Topic(t.Topic); ok && int32(len(ti.Partitions)) < r.Topics[i].Count {
					return false
				}
			}
			return true
		})
	}

	reqs := make([]controller.CreatePartitions, len(r.Topics))
	for i, rt := range r.Topics {
		reqs[i] = controller.CreatePartitions{Topic: rt.Topic, Count: rt.Count}
		// A null assignment asks for automatic placement; an empty one
		// is a (wrong) manual assignment of nothing.
		if rt.Assignment != nil {
			reqs[i].Assignments = make([][]int32, len(rt.Assignment))
			for j, a := range rt.Assignment {
				reqs[i].Assignments[j] = slices.Clone(a.Replicas)
			}
		}
	}
	var results []controller.CreatePartitionsResult
	if len(reqs) > 0 {
		results = h.d.Controller.CreatePartitions(ctx, reqs, r.ValidateOnly)
	}
	emitted := make(map[string]bool)
	for i, rt := range r.Topics {
		if emitted[rt.Topic] {
			continue
		}
		emitted[rt.Topic] = true
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if err := results[i].Err; err != nil {
			st.ErrorCode, st.ErrorMessage = h.errorCode(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
