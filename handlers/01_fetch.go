package handlers

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/replica"
)

// Fetch: v4-v17 (Kafka 4.0's floor is v4, KIP-896). Long polls park in the
// replica manager until an append satisfies min bytes or max wait passes.
// v13+ names topics by ID. samsa declines incremental fetch sessions
// (KIP-227 lets a broker answer session ID 0), so every fetch is full.
//
// A fetch with a replica ID >= 0 (ReplicaState.ID from v15, KIP-903) comes
// from another broker's replica fetcher: it reads up to the log end offset,
// records the follower's position (which moves the high watermark and
// completes acks=all produces), and is answered with DivergingEpoch when
// the follower's log diverges (KIP-320).
var fetchAPI = api{key: 1, min: 4, max: 17, handle: (*Handlers).fetch}

// fetchSlot remembers where each requested partition goes in the response;
// slots with a lookup error are answered without reading.
type fetchSlot struct {
	topic, part int
	read        int // index in the replica fetch, -1 if not read
	err         error
	t           *controller.TopicImage
}

func (h *Handlers) fetch(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.FetchRequest)
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	img := h.d.Controller.Image()

	if r.Version >= 7 {
		switch {
		case r.SessionID != 0:
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return respond(resp)
		case r.SessionEpoch > 0:
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return respond(resp)
		}
	}
	replicaID, brokerEpoch := r.ReplicaID, int64(-1)
	if r.Version >= 15 {
		replicaID, brokerEpoch = r.ReplicaState.ID, r.ReplicaState.Epoch
	}

	var (
		freq          = replica.FetchRequest{MaxWait: time.Duration(r.MaxWaitMillis) * time.Millisecond, MinBytes: r.MinBytes, MaxBytes: r.MaxBytes}
		slots         []fetchSlot
		followerParts []replica.FollowerFetchPartition
	)
	if r.Version < 3 || freq.MaxBytes <= 0 {
		freq.MaxBytes = 1<<31 - 1
	}
	for ti, rt := range r.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, terr := lookupTopic(img, r.Version >= 13, rt.Topic, rt.TopicID)
		if t != nil {
			st.Topic = t.Name
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Kafka always sends a (possibly empty) record set; librdkafka
			// refuses a null one as a protocol error.
			sp.RecordBatches = []byte{}
			st.Partitions = append(st.Partitions, sp)
			slot := fetchSlot{topic: ti, part: pi, read: -1, err: terr, t: t}
			if slot.err == nil {
				slot.err = partitionExists(t, rp.Partition)
			}
			if slot.err == nil {
				slot.read = len(freq.Partitions)
				freq.Partitions = append(freq.Partitions, replica.FetchPartition{
					TP:                 plog.TopicPartition{Topic: t.Name, Partition: rp.Partition},
					Offset:             rp.FetchOffset,
					CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
					MaxBytes:           rp.PartitionMaxBytes,
				})
				lastFetched := int32(-1)
				if r.Version >= 12 {
					lastFetched = rp.LastFetchedEpoch
				}
				followerParts = append(followerParts, replica.FollowerFetchPartition{
					TP:                 plog.TopicPartition{Topic: t.Name, Partition: rp.Partition},
					FetchOffset:        rp.FetchOffset,
					LastFetchedEpoch:   lastFetched,
					CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
					MaxBytes:           rp.PartitionMaxBytes,
				})
			}
			slots = append(slots, slot)
		}
		resp.Topics = append(resp.Topics, st)
	}

	if replicaID >= 0 {
		return h.followerFetch(ctx, req, r, resp, img, slots, replica.FollowerFetchRequest{
			ReplicaID: replicaID, BrokerEpoch: brokerEpoch, MaxWait: freq.MaxWait,
			MinBytes: freq.MinBytes, MaxBytes: freq.MaxBytes, Partitions: followerParts,
		})
	}
	results, wait := h.d.Replicas.Fetch(ctx, freq)
	return fetchReply(h, req, r, resp, img, slots, results, wait, func(sp *kmsg.FetchResponseTopicPartition, res replica.FetchResult) error {
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
		if res.Err == nil && res.Batches != nil {
			sp.RecordBatches = res.Batches
		}
		return res.Err
	})
}

// fetchReply fills each read partition of resp from its result with fill
// (which returns the partition's error), lets finishFetch add errors and
// leader hints, and answers now or, for a parked fetch, from Reply.Wait.
// Consumer and follower fetches share it; only their results differ.
func fetchReply[T any](h *Handlers, req *protocol.Request, r *kmsg.FetchRequest, resp *kmsg.FetchResponse, img *controller.Image,
	slots []fetchSlot, results []T, wait func() []T, fill func(*kmsg.FetchResponseTopicPartition, T) error) (protocol.Reply, error) {
	build := func(results []T) kmsg.Response {
		slotErrs := make(map[[2]int]error, len(slots))
		for _, s := range slots {
			err := s.err
			if s.read >= 0 {
				err = fill(&resp.Topics[s.topic].Partitions[s.part], results[s.read])
			}
			slotErrs[slotKey(s)] = err
		}
		return h.finishFetch(req, r, resp, img, slots, slotErrs)
	}
	if wait == nil {
		return respond(build(results))
	}
	return protocol.Reply{Wait: func() kmsg.Response { return build(wait()) }}, nil
}

// slotKey indexes a slot's error by its response position.
func slotKey(s fetchSlot) [2]int { return [2]int{s.topic, s.part} }

// followerFetch serves a replica's fetch (Kafka's ReplicaManager.fetchMessages
// with a replica ID): the same lookups as a consumer's, then the replica
// manager's follower read, with DivergingEpoch. On OFFSET_OUT_OF_RANGE the
// leader's high watermark and log start offset are still filled in, which
// samsa followers use to recover without a ListOffsets round trip.
func (h *Handlers) followerFetch(ctx context.Context, req *protocol.Request, r *kmsg.FetchRequest, resp *kmsg.FetchResponse,
	img *controller.Image, slots []fetchSlot, freq replica.FollowerFetchRequest) (protocol.Reply, error) {
	results, wait := h.d.Replicas.FetchForFollower(ctx, freq)
	return fetchReply(h, req, r, resp, img, slots, results, wait, func(sp *kmsg.FetchResponseTopicPartition, res replica.FollowerFetchResult) error {
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
		if res.DivergingEpoch != nil {
			sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = res.DivergingEpoch.Epoch, res.DivergingEpoch.EndOffset
		}
		if res.Err == nil && res.Batches != nil {
			sp.RecordBatches = res.Batches
		}
		return res.Err
	})
}

// finishFetch sets each partition's error code, the current leader hints
// for NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH (v12+), and the
// brokers those hints name (v16+).
func (h *Handlers) finishFetch(req *protocol.Request, r *kmsg.FetchRequest, resp *kmsg.FetchResponse, img *controller.Image,
	slots []fetchSlot, slotErrs map[[2]int]error) kmsg.Response {
	hints := newLeaderHints(h, img, req)
	for _, s := range slots {
		sp := &resp.Topics[s.topic].Partitions[s.part]
		if err := slotErrs[slotKey(s)]; err != nil {
			sp.ErrorCode = h.code(err)
			if r.Version >= 12 && s.t != nil && (sp.ErrorCode == kerr.NotLeaderForPartition.Code || sp.ErrorCode == kerr.FencedLeaderEpoch.Code) {
				hints.fill(s.t, sp.Partition, &sp.CurrentLeader.LeaderID, &sp.CurrentLeader.LeaderEpoch)
			}
		}
	}
	if r.Version >= 16 {
		resp.Brokers = hints.fetchBrokers()
	}
	return resp
}
