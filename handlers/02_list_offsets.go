package handlers

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
)

// ListOffsets: v1-v10, Kafka 4.0's range (KIP-896 removed v0). Answers as
// Kafka's ReplicaManager.fetchOffset and Partition.fetchOffsetForTimestamp
// do for a broker without tiered storage:
//
//   - -1 latest: the high watermark for consumers (the last stable offset
//     under read_committed, equal to it until transactions exist), the log
//     end offset for replicas, with the current leader epoch;
//   - -2 earliest and -4 earliest-local (v8+, KIP-405): the log start offset,
//     with the first cached epoch when it covers that offset;
//   - -3 max timestamp (v7+, KIP-734): the record with the largest timestamp;
//   - -5 latest-tiered (v9+, KIP-1005): offset -1 and epoch -1, nothing is
//     tiered;
//   - any timestamp >= 0: the first record at or after it.
//
// A timestamp lookup that finds nothing, or finds a record at or past the
// last fetchable offset, answers offset -1 and timestamp -1. A special
// timestamp the request's version does not know is UNSUPPORTED_VERSION; a
// partition listed twice is INVALID_REQUEST, answered once.
//
// ReplicaID -1 (consumer) must reach the leader and is refused with
// OFFSET_NOT_AVAILABLE (v5+, KIP-207; LEADER_NOT_AVAILABLE before) while a
// new leader's high watermark is below its epoch's start offset. ReplicaID
// -2 (debugging) may be answered by any replica. v10's TimeoutMillis only
// bounds remote-storage lookups, which samsa has none of.
var listOffsetsAPI = api{key: 2, min: 1, max: 10, handle: (*Handlers).listOffsets}

// ListOffsets special timestamps (Kafka's ListOffsetsRequest constants).
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestampTimestamp  = -3
	earliestLocalTimestamp = -4
	latestTieredTimestamp  = -5
)

// ListOffsets replica IDs (Kafka's ListOffsetsRequest.CONSUMER_REPLICA_ID and
// DEBUGGING_REPLICA_ID); any other is a broker.
const (
	consumerReplicaID  = -1
	debuggingReplicaID = -2
)

// timestampMinVersion is the first ListOffsets version that knows a special
// timestamp (Kafka's ReplicaManager.timestampMinSupportedVersion); false for
// negative timestamps Kafka does not define (-6, earliest pending upload, is
// v11, which samsa does not serve).
func timestampMinVersion(ts int64) (int16, bool) {
	switch ts {
	case latestTimestamp, earliestTimestamp:
		return 1, true
	case maxTimestampTimestamp:
		return 7, true
	case earliestLocalTimestamp:
		return 8, true
	case latestTieredTimestamp:
		return 9, true
	}
	return 0, false
}

// listedOffset is one partition's answer.
type listedOffset struct {
	offset, timestamp int64
	epoch             int32
}

// noListedOffset is the answer of a lookup that found nothing: offset -1,
// timestamp -1, epoch -1, kmsg's defaults.
func noListedOffset() listedOffset { return listedOffset{offset: -1, timestamp: -1, epoch: -1} }

type topicPartitionKey struct {
	topic     string
	partition int32
}

func (h *Handlers) listOffsets(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := h.d.Controller.Image()

	seen := make(map[topicPartitionKey]int)
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			seen[topicPartitionKey{rt.Topic, rp.Partition}]++
		}
	}
	// Kafka keys its answers by partition and groups them by topic, so a
	// duplicate is answered once and a topic listed twice once.
	answered := make(map[topicPartitionKey]bool)
	topicIndex := make(map[string]int)
	for _, rt := range r.Topics {
		ti, ok := topicIndex[rt.Topic]
		if !ok {
			ti = len(resp.Topics)
			topicIndex[rt.Topic] = ti
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			resp.Topics = append(resp.Topics, st)
		}
		for _, rp := range rt.Partitions {
			key := topicPartitionKey{rt.Topic, rp.Partition}
			if answered[key] {
				continue
			}
			answered[key] = true
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			var (
				res listedOffset
				err error
			)
			if seen[key] > 1 {
				err = fmt.Errorf("%w: partition %s-%d is listed more than once", kerr.InvalidRequest, rt.Topic, rp.Partition)
			} else {
				res, err = h.listOffset(img, r, rt.Topic, rp)
			}
			if err != nil {
				sp.ErrorCode = h.code(err)
			} else {
				sp.Offset, sp.Timestamp = res.offset, res.timestamp
				if r.Version >= 4 {
					sp.LeaderEpoch = res.epoch
				}
			}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
		}
	}
	return respond(resp)
}

// listOffset answers one partition.
func (h *Handlers) listOffset(img *controller.Image, r *kmsg.ListOffsetsRequest, topic string, rp kmsg.ListOffsetsRequestTopicPartition) (listedOffset, error) {
	ts := rp.Timestamp
	if minVersion, known := timestampMinVersion(ts); ts < 0 && (!known || r.Version < minVersion) {
		return noListedOffset(), fmt.Errorf("%w: timestamp %d needs a newer ListOffsets version than v%d", kerr.UnsupportedVersion, ts, r.Version)
	}
	part, err := h.localPartition(img, topic, rp.Partition)
	if err != nil {
		return noListedOffset(), err
	}
	// The epoch is checked before leadership, as Partition.getLocalLog does;
	// the debugging replica ID may read a follower.
	if err := part.CheckLeaderEpoch(rp.CurrentLeaderEpoch); err != nil {
		if r.ReplicaID != debuggingReplicaID || !isErr(err, kerr.NotLeaderForPartition) {
			return noListedOffset(), err
		}
	}
	l := part.Log()
	fromClient := r.ReplicaID == consumerReplicaID
	// Consumers see up to the high watermark (the last stable offset under
	// read_committed, the same offset until transactions exist); replicas
	// and the debugging ID see the whole log.
	lastFetchable := l.LogEndOffset()
	if fromClient {
		lastFetchable = part.HighWatermark()
	}
	// Only client requests are refused while a new leader catches up.
	var notAvailable error
	if fromClient && part.OffsetNotAvailableYet() {
		notAvailable = offsetNotAvailable(r.Version, topic, rp.Partition)
	}

	var (
		res   listedOffset
		found bool
	)
	switch ts {
	case latestTimestamp:
		if notAvailable != nil {
			return noListedOffset(), notAvailable
		}
		return listedOffset{offset: lastFetchable, timestamp: -1, epoch: part.State().LeaderEpoch}, nil
	case earliestTimestamp, earliestLocalTimestamp:
		// With no tiered storage the local log start is the log start.
		start := l.LogStartOffset()
		res = listedOffset{offset: start, timestamp: -1, epoch: -1}
		// UnifiedLog answers with the first cached epoch only when it starts
		// at or before the log start offset.
		if entries := l.LeaderEpochCache().Entries(); len(entries) > 0 && entries[0].StartOffset <= start {
			res.epoch = epochForOffset(entries, start)
		}
		return res, nil
	case latestTieredTimestamp:
		return noListedOffset(), nil
	case maxTimestampTimestamp:
		off, mts := l.MaxTimestamp()
		found = off >= 0 && mts >= 0
		res = listedOffset{offset: off, timestamp: mts}
	default:
		off, fts, ok, err := l.OffsetForTimestamp(ts)
		if err != nil {
			return noListedOffset(), fmt.Errorf("list offset of %s-%d at timestamp %d: %w", topic, rp.Partition, ts, err)
		}
		found = ok
		res = listedOffset{offset: off, timestamp: fts}
	}
	// A record at or past the last fetchable offset is not an answer
	// (ReplicaManager.fetchOffset): a consumer could not read it yet.
	if !found || res.offset >= lastFetchable {
		if notAvailable != nil {
			return noListedOffset(), notAvailable
		}
		return noListedOffset(), nil
	}
	res.epoch = epochForOffset(l.LeaderEpochCache().Entries(), res.offset)
	return res, nil
}

// offsetNotAvailable is OFFSET_NOT_AVAILABLE, or LEADER_NOT_AVAILABLE for
// clients older than ListOffsets v5 that do not know it (KIP-207).
func offsetNotAvailable(version int16, topic string, partition int32) error {
	ke := kerr.OffsetNotAvailable
	if version < 5 {
		ke = kerr.LeaderNotAvailable
	}
	return fmt.Errorf("%w: %s-%d: the new leader's high watermark has not reached the start of its epoch yet", ke, topic, partition)
}

// epochForOffset is the leader epoch the record at offset was written in,
// -1 if the cache does not cover it (Kafka's LeaderEpochFileCache
// epochForOffset): the epoch of the last entry starting at or before offset.
func epochForOffset(entries []plog.EpochEntry, offset int64) int32 {
	epoch := int32(-1)
	for _, e := range entries {
		if e.StartOffset > offset {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}
