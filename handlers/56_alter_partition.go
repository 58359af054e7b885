package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// AlterPartition: v2-v3 (Kafka 4.0 removed v0-v1), CONTROLLER listener only.
// A partition leader proposes a new ISR (shrink or expansion) with the
// leader and partition epochs it based it on; the controller validates and
// commits it (KIP-497, KIP-841). v2 names topics by ID; v3 carries each
// member's broker epoch (NewIsrWithEpochs, KIP-903), v2 a plain ISR, whose
// members' epochs are then not checked (-1). A whole-request failure
// (NOT_CONTROLLER, STALE_BROKER_EPOCH) is the top-level error code; each
// partition otherwise gets its own error or the state after the change.
var alterPartitionAPI = api{key: 56, min: 2, max: 3, handle: (*Handlers).alterPartition}

func (h *Handlers) alterPartition(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.AlterPartitionRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
	creq := controller.AlterPartitionRequest{BrokerID: r.BrokerID, BrokerEpoch: r.BrokerEpoch}
	for _, rt := range r.Topics {
		t := controller.AlterPartitionTopic{TopicID: rt.TopicID}
		for _, rp := range rt.Partitions {
			prop := controller.AlterPartitionProposal{Partition: rp.Partition, LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch}
			if r.Version >= 3 {
				for _, m := range rp.NewEpochISR {
					prop.NewISR = append(prop.NewISR, controller.ISRMember{BrokerID: m.BrokerID, BrokerEpoch: m.BrokerEpoch})
				}
			} else {
				for _, id := range rp.NewISR {
					prop.NewISR = append(prop.NewISR, controller.ISRMember{BrokerID: id, BrokerEpoch: -1})
				}
			}
			t.Partitions = append(t.Partitions, prop)
		}
		creq.Topics = append(creq.Topics, t)
	}
	results, err := h.d.Controller.AlterPartition(ctx, creq)
	if err == nil {
		err = checkAnswered(len(results), countProposals(creq), "proposals")
	}
	if err != nil {
		resp.ErrorCode = h.code(err)
		return respond(resp)
	}
	// One result per proposal, in request order.
	i := 0
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.TopidID = rt.TopicID
		for range rt.Partitions {
			res := results[i]
			i++
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = res.Partition
			sp.LeaderID, sp.LeaderEpoch, sp.PartitionEpoch = res.Leader, res.LeaderEpoch, res.PartitionEpoch
			if res.Err != nil {
				sp.ErrorCode = h.code(res.Err)
			} else {
				sp.ISR = res.ISR
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

func countProposals(req controller.AlterPartitionRequest) int {
	n := 0
	for _, t := range req.Topics {
		n += len(t.Partitions)
	}
	return n
}
