package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// ElectLeaders: v0-v2, Kafka 4.x's range (KIP-183; v1 adds ElectionType and
// a top-level error code, KIP-460; v2 is flexible). Brokers forward it to
// the active controller and answer once their own metadata shows the new
// leaders; the CONTROLLER listener runs it (Kafka's
// ReplicationControlManager.electLeaders). v0 is always a preferred
// election. Null Topics elects for every partition and leaves out the ones
// that needed no election. Per partition: ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION; a failure of the whole request (an unknown
// election type, NOT_CONTROLLER) is the top-level error (v1+) and every
// named partition's.
var electLeadersAPI = api{key: 43, min: 0, max: 2, handle: (*Handlers).electLeaders}

func (h *Handlers) electLeaders(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.PreferredElection
	if r.Version >= 1 {
		typ = controller.ElectionType(r.ElectionType)
	}
	if h.forwarding() {
		return h.forward(ctx, req, func(kr kmsg.Response, err error) {
			electLeadersFailed(h, r, kr.(*kmsg.ElectLeadersResponse), err)
		}, func(kr kmsg.Response, img *controller.Image) bool {
			return electionsVisible(kr.(*kmsg.ElectLeadersResponse), typ, img)
		})
	}

	var topics []controller.TopicPartitions
	if r.Topics != nil {
		topics = make([]controller.TopicPartitions, 0, len(r.Topics))
		for _, rt := range r.Topics {
			topics = append(topics, controller.TopicPartitions{Topic: rt.Topic, Partitions: rt.Partitions})
		}
	}
	results, err := h.d.Controller.ElectLeaders(ctx, typ, topics)
	if err != nil {
		electLeadersFailed(h, r, resp, err)
		return respond(resp)
	}
	if r.Topics != nil {
		// One result per named partition, in request order.
		if err := checkAnswered(len(results), countElectPartitions(r), "partitions"); err != nil {
			electLeadersFailed(h, r, resp, err)
			return respond(resp)
		}
		i := 0
		for _, rt := range r.Topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for range rt.Partitions {
				st.Partitions = append(st.Partitions, h.electionResult(results[i]))
				i++
			}
			resp.Topics = append(resp.Topics, st)
		}
		return respond(resp)
	}
	// Every partition: results come sorted by topic.
	for _, res := range results {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != res.Topic {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = res.Topic
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, h.electionResult(res))
	}
	return respond(resp)
}

// electLeadersFailed answers a request that failed as a whole, as Kafka's
// ElectLeadersRequest.getErrorResponse: the top-level error (v1+) and the
// same error for every named partition.
func electLeadersFailed(h *Handlers, r *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse, err error) {
	code, msg := h.errorCode(err)
	if r.Version >= 1 {
		resp.ErrorCode = code
	}
	for _, rt := range r.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = p, code, msg
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// electionsVisible reports whether img shows every election resp reports
// as done: the preferred replica leading, or (unclean) some leader.
func electionsVisible(resp *kmsg.ElectLeadersResponse, typ controller.ElectionType, img *controller.Image) bool {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				continue
			}
			pi, ok := img.Partition(t.Topic, p.Partition)
			switch {
			case !ok:
				return false
			case typ == controller.PreferredElection && pi.Leader != pi.Replicas[0]:
				return false
			case typ == controller.UncleanElection && pi.Leader < 0:
				return false
			}
		}
	}
	return true
}

func (h *Handlers) electionResult(res controller.ElectionResult) kmsg.ElectLeadersResponseTopicPartition {
	sp := kmsg.NewElectLeadersResponseTopicPartition()
	sp.Partition = res.Partition
	sp.ErrorCode, sp.ErrorMessage = h.errorCode(res.Err)
	return sp
}

func countElectPartitions(r *kmsg.ElectLeadersRequest) int {
	n := 0
	for _, rt := range r.Topics {
		n += len(rt.Partitions)
	}
	return n
}
