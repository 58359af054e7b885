package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// OffsetForLeaderEpoch: v2-v4 (Kafka 4.0's floor is v2, KIP-896). For each
// partition, the largest leader epoch <= the requested one and the offset
// where it ends: the start of the next epoch, or the log end offset for the
// latest epoch (Kafka's LeaderEpochFileCache.endOffsetFor). An epoch the
// cache cannot place answers epoch -1 and offset -1 without an error, as
// Kafka does. Consumers use it to detect truncation after a leader change
// (KIP-320); followers to find where their log diverges (KIP-101, KIP-279).
//
// The partition must be led here (Kafka's fetchOnlyFromLeader is always true
// for this API), after the CurrentLeaderEpoch check (v2+):
// FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH. ReplicaID (v3+) is -1 from a
// consumer or a broker ID from a follower; both get the same answer.
var offsetForLeaderEpochAPI = api{key: 23, min: 2, max: 4, handle: (*Handlers).offsetForLeaderEpoch}

func (h *Handlers) offsetForLeaderEpoch(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := h.d.Controller.Image()

	// One answer per request topic, in request order, as Kafka's
	// ReplicaManager.lastOffsetForLeaderEpoch maps them.
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			part, err := h.localPartition(img, rt.Topic, rp.Partition)
			if err == nil {
				err = part.CheckLeaderEpoch(rp.CurrentLeaderEpoch)
			}
			if err != nil {
				sp.ErrorCode = h.code(err)
			} else {
				l := part.Log()
				sp.LeaderEpoch, sp.EndOffset = l.LeaderEpochCache().EndOffsetFor(rp.LeaderEpoch, l.LogEndOffset())
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
