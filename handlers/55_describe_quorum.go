package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// DescribeQuorum: v0-v2 (KIP-595, KIP-853). Describes the metadata quorum:
// its leader (the active controller), epoch, high watermark, voters and
// observers. Brokers forward it to the active controller, as Kafka's do.
var describeQuorumAPI = api{key: 55, min: 0, max: 2, handle: (*Handlers).describeQuorum}

// metadataTopic is the KRaft metadata log's name in DescribeQuorum.
const metadataTopic = "__cluster_metadata"

func (h *Handlers) describeQuorum(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			resp := kr.(*kmsg.DescribeQuorumResponse)
			resp.ErrorCode, resp.ErrorMessage = h.errorCode(err)
		}, nil)
	}
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadataTopic || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			info, err := h.d.Controller.DescribeQuorum()
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = h.errorCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = info.LeaderID, info.LeaderEpoch, info.HighWatermark
			for _, v := range info.Voters {
				sp.CurrentVoters = append(sp.CurrentVoters, quorumReplica(v.ID, v.LogEndOffset, v.LastFetchTimestamp, v.LastCaughtUpTimestamp))
			}
			for _, o := range info.Observers {
				sp.Observers = append(sp.Observers, quorumReplica(o.ID, o.LogEndOffset, o.LastFetchTimestamp, o.LastCaughtUpTimestamp))
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if r.Version >= 2 {
		for _, v := range h.d.Config.ControllerQuorumVoters {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = v.ID
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = firstOr(h.d.Config.ControllerListenerNames, "CONTROLLER"), v.Host, uint16(v.Port)
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return respond(resp)
}

func quorumReplica(id int32, leo, lastFetch, lastCaughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	s.ReplicaID, s.LogEndOffset, s.LastFetchTimestamp, s.LastCaughtUpTimestamp = id, leo, lastFetch, lastCaughtUp
	return s
}

func firstOr(ss []string, def string) string {
	if len(ss) > 0 {
		return ss[0]
	}
	return def
}
