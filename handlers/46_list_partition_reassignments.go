package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// ListPartitionReassignments: v0 (KIP-455), the only version. Brokers
// forward it to the active controller, which answers from its image
// (Kafka's ReplicationControlManager.listPartitionReassignments): every
// reassignment in progress for null Topics, else those of the named
// partitions; unknown topics and partitions are left out. Each lists the
// partition's replicas (target first, then the ones being removed) and its
// adding and removing replicas. NOT_CONTROLLER is the top-level error.
var listPartitionReassignmentsAPI = api{key: 46, min: 0, max: 0, handle: (*Handlers).listPartitionReassignments}

func (h *Handlers) listPartitionReassignments(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			resp := kr.(*kmsg.ListPartitionReassignmentsResponse)
			resp.ErrorCode, resp.ErrorMessage = h.errorCode(err)
		}, nil)
	}

	var topics []controller.TopicPartitions
	if r.Topics != nil {
		topics = make([]controller.TopicPartitions, 0, len(r.Topics))
		for _, rt := range r.Topics {
			topics = append(topics, controller.TopicPartitions{Topic: rt.Topic, Partitions: rt.Partitions})
		}
	}
	ongoing, err := h.d.Controller.ListPartitionReassignments(topics)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = h.errorCode(err)
		return respond(resp)
	}
	for _, o := range ongoing {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != o.Topic {
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = o.Topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition, sp.Replicas = o.Partition, o.Replicas
		sp.AddingReplicas, sp.RemovingReplicas = o.AddingReplicas, o.RemovingReplicas
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
	return respond(resp)
}
