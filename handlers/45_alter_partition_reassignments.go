package handlers

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// AlterPartitionReassignments: v0-v1 (KIP-455; v1 adds
// AllowReplicationFactorChange, KIP-860, echoed in the response; v0 always
// allows a change). Brokers forward it to the active controller and answer
// once their own metadata shows each accepted change; the CONTROLLER
// listener runs it (Kafka's
// ReplicationControlManager.alterPartitionReassignments). Replicas starts
// (or replaces) a reassignment, null Replicas cancels one. Per partition:
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
// INVALID_REPLICATION_FACTOR, NO_REASSIGNMENT_IN_PROGRESS, INVALID_REQUEST
// for a partition named twice; a failure of the whole request
// (NOT_CONTROLLER, a failed commit) is the top-level error and every
// partition's.
var alterPartitionReassignmentsAPI = api{key: 45, min: 0, max: 1, handle: (*Handlers).alterPartitionReassignments}

func (h *Handlers) alterPartitionReassignments(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRF := r.Version < 1 || r.AllowReplicationFactorChange
	resp.AllowReplicationFactorChange = allowRF
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			reassignmentsFailed(h, r, kr.(*kmsg.AlterPartitionAssignmentsResponse), err)
		}, func(kr kmsg.Response, img *controller.Image) bool {
			return reassignmentsVisible(r, kr.(*kmsg.AlterPartitionAssignmentsResponse), img)
		})
	}

	var reqs []controller.PartitionReassignment
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			var replicas []int32
			if rp.Replicas != nil {
				replicas = append([]int32{}, rp.Replicas...)
			}
			reqs = append(reqs, controller.PartitionReassignment{Topic: rt.Topic, Partition: rp.Partition, Replicas: replicas})
		}
	}
	results, err := h.d.Controller.AlterPartitionReassignments(ctx, reqs, allowRF)
	if err == nil {
		err = checkAnswered(len(results), len(reqs), "partitions")
	}
	if err != nil {
		reassignmentsFailed(h, r, resp, err)
		return respond(resp)
	}
	i := 0
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for range rt.Partitions {
			res := results[i]
			i++
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = res.Partition
			sp.ErrorCode, sp.ErrorMessage = h.errorCode(res.Err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

// reassignmentsFailed answers a request that failed as a whole (Kafka's
// AlterPartitionReassignmentsRequest.getErrorResponse).
func reassignmentsFailed(h *Handlers, r *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse, err error) {
	code, msg := h.errorCode(err)
	resp.ErrorCode, resp.ErrorMessage = code, msg
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, code, msg
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// reassignmentsVisible reports whether img shows every change resp
// accepted: a cancelled partition no longer reassigning, a reassigned one
// headed for (or at) its target, i.e. its replicas without the removing
// ones are the target, in order.
func reassignmentsVisible(r *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse, img *controller.Image) bool {
	if resp.ErrorCode != 0 {
		return true
	}
	for ti, rt := range r.Topics {
		if ti >= len(resp.Topics) {
			return true
		}
		for pi, rp := range rt.Partitions {
			if pi >= len(resp.Topics[ti].Partitions) || resp.Topics[ti].Partitions[pi].ErrorCode != 0 {
				continue
			}
			p, ok := img.Partition(rt.Topic, rp.Partition)
			switch {
			case !ok:
				return false
			case rp.Replicas == nil && p.IsReassigning():
				return false
			case rp.Replicas != nil && !slices.Equal(p.TargetReplicas(), rp.Replicas):
				return false
			}
		}
	}
	return true
}
