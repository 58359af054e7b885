package handlers

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/protocol"
)

// DeleteRecords: v0-v2, Kafka 4.0's range. Per partition, the leader moves
// its log start offset up to the requested offset (-1: the high watermark)
// and answers the new log start offset as LowWatermark; whole segments below
// it are deleted. Follows Kafka's ReplicaManager.deleteRecordsOnLocalLog: an
// offset above the high watermark (or negative) is OFFSET_OUT_OF_RANGE, an
// offset at or below the current log start changes nothing, an unknown
// partition is UNKNOWN_TOPIC_OR_PARTITION, a partition of an internal topic
// INVALID_TOPIC_EXCEPTION, a partition not led here NOT_LEADER_OR_FOLLOWER.
// Errors answer LowWatermark -1.
//
// Kafka parks the answer until every replica's log start offset reaches the
// requested offset; while partitions have a single replica the leader's
// answer is already final, so there is nothing to wait for and TimeoutMillis
// is unused.
var deleteRecordsAPI = api{key: 21, min: 0, max: 2, handle: (*Handlers).deleteRecords}

func (h *Handlers) deleteRecords(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := h.d.Controller.Image()

	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			low, err := h.deleteRecordsPartition(img, rt.Topic, rp.Partition, rp.Offset)
			if err != nil {
				sp.LowWatermark, sp.ErrorCode = -1, h.code(err)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

func (h *Handlers) deleteRecordsPartition(img *controller.Image, topic string, partition int32, offset int64) (int64, error) {
	// Kafka answers partitions its metadata does not know before it looks
	// at internal topics (KafkaApis.handleDeleteRecordsRequest).
	t, err := lookupTopic(img, false, topic, [16]byte{})
	if err != nil {
		return -1, err
	}
	if err := partitionExists(t, partition); err != nil {
		return -1, err
	}
	if isInternalTopic(topic) {
		return -1, fmt.Errorf("%w: cannot delete records of internal topic %s", kerr.InvalidTopicException, topic)
	}
	part, err := h.localPartition(img, topic, partition)
	if err != nil {
		return -1, err
	}
	return part.DeleteRecordsBefore(offset)
}
