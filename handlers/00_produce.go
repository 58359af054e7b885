package handlers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// Produce: advertised v0-v13, as Kafka 4.0 does, though v0-v2 are refused
// with UNSUPPORTED_VERSION (KAFKA-18659: librdkafka stops compressing when
// Produce's minimum version is above 0). v13 names topics by ID.
//
// Appends happen here, on the connection's read goroutine, so one
// connection's batches land in request order; only the acks=all wait (and
// the fsync wait when flush.messages=1) runs later, in Reply.Wait.
var produceAPI = api{key: 0, min: 0, max: 13, handle: (*Handlers).produce}

// producePending is one appended partition still waiting to be answered.
type producePending struct {
	part *replica.Partition
	resp *kmsg.ProduceResponseTopicPartition
	next int64 // offset after the batch
	// epoch is the leader epoch the batch was written at.
	epoch int32
	flush bool
}

func (h *Handlers) produce(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	img := h.d.Controller.Image()

	// errAll answers every partition with one error, appending nothing.
	var errAll error
	switch {
	case r.Version < 3:
		errAll = fmt.Errorf("%w: Produce v%d is not supported, v3 is the minimum", kerr.UnsupportedVersion, r.Version)
	case r.Acks != -1 && r.Acks != 0 && r.Acks != 1:
		errAll = fmt.Errorf("%w: acks=%d", kerr.InvalidRequiredAcks, r.Acks)
	case r.TransactionID != nil:
		errAll = fmt.Errorf("%w: transactions are not supported yet", kerr.TransactionalIDAuthorizationFailed)
	}

	var pending []producePending
	leaders := newLeaderHints(h, img, req)
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		topic, terr := lookupTopic(img, r.Version >= 13, rt.Topic, rt.TopicID)
		if topic != nil {
			st.Topic = topic.Name
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			err := errAll
			if err == nil {
				err = terr
			}
			if err == nil {
				err = partitionExists(topic, rp.Partition)
			}
			var pend *producePending
			if err == nil {
				pend, err = h.appendPartition(plog.TopicPartition{Topic: topic.Name, Partition: rp.Partition}, rp.Records, r.Acks, &sp)
			}
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = h.errorCode(err)
				if r.Version >= 10 && sp.ErrorCode == kerr.NotLeaderForPartition.Code && topic != nil {
					leaders.fill(topic, rp.Partition, &sp.CurrentLeader.LeaderID, &sp.CurrentLeader.LeaderEpoch)
				}
			}
			st.Partitions = append(st.Partitions, sp)
			if pend != nil {
				pending = append(pending, *pend)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if r.Version >= 10 {
		resp.Brokers = leaders.produceBrokers()
	}
	if r.Acks == 0 {
		return protocol.Reply{NoResponse: true}, nil
	}
	if len(pending) == 0 {
		return respond(resp)
	}
	// Partition pointers in pending point into resp.Topics[i].Partitions,
	// whose backing arrays no longer grow.
	for i := range pending {
		pending[i].resp = findProducePartition(resp, pending[i])
	}
	// Waits run one after another on the connection's writer, so the
	// deadline counts from when the request arrived, not from when its
	// wait starts.
	deadline := req.Received.Add(time.Duration(r.TimeoutMillis) * time.Millisecond)
	return protocol.Reply{Wait: func() kmsg.Response {
		h.awaitProduce(ctx, pending, r.Acks, time.Until(deadline))
		if r.Version >= 10 {
			h.lateLeaderHints(req, resp, pending)
		}
		return resp
	}}, nil
}

// lateLeaderHints adds the KIP-951 hints (CurrentLeader, and the leader's
// endpoint in Brokers) to the partitions whose wait ended in
// NOT_LEADER_OR_FOLLOWER (leadership moved while acks=all waited), as
// Kafka's produce callback does for every such partition. The hints come
// from the metadata as it is now.
func (h *Handlers) lateLeaderHints(req *protocol.Request, resp *kmsg.ProduceResponse, pending []producePending) {
	var hints *leaderHints
	for _, p := range pending {
		if p.resp.ErrorCode != kerr.NotLeaderForPartition.Code {
			continue
		}
		if hints == nil {
			hints = newLeaderHints(h, h.d.Controller.Image(), req)
		}
		tp := p.part.TopicPartition()
		if t, ok := hints.img.Topic(tp.Topic); ok {
			hints.fill(t, tp.Partition, &p.resp.CurrentLeader.LeaderID, &p.resp.CurrentLeader.LeaderEpoch)
		}
	}
	if hints == nil {
		return
	}
	for _, b := range hints.produceBrokers() {
		if !slices.ContainsFunc(resp.Brokers, func(o kmsg.ProduceResponseBroker) bool { return o.NodeID == b.NodeID }) {
			resp.Brokers = append(resp.Brokers, b)
		}
	}
}

// appendPartition validates and appends one partition's batch. It returns a
// pending entry when the answer must wait (acks=all or a required fsync).
func (h *Handlers) appendPartition(tp plog.TopicPartition, records []byte, acks int16, sp *kmsg.ProduceResponseTopicPartition) (*producePending, error) {
	part, ok := h.d.Replicas.Partition(tp)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not hosted on node %d", kerr.NotLeaderForPartition, tp, h.d.NodeID)
	}
	cfg := part.Config()
	batch, err := h.validateBatch(records, cfg)
	if err != nil {
		return nil, fmt.Errorf("produce to %s: %w", tp, err)
	}
	res, err := part.AppendAsLeader(batch, acks)
	if err != nil {
		return nil, err
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	flush := cfg.Log.FlushMessages == 1
	if acks != -1 && !flush {
		return nil, nil
	}
	return &producePending{part: part, resp: sp, next: res.LastOffset + 1, epoch: part.State().LeaderEpoch, flush: flush}, nil
}

// validateBatch checks that records holds exactly one well-formed batch
// (Kafka refuses more than one per partition since v3), within
// max.message.bytes, and recompresses it when the topic's compression.type
// names another codec.
func (h *Handlers) validateBatch(records []byte, cfg replica.Config) ([]byte, error) {
	batches, err := record.Split(records)
	if err != nil {
		return nil, err
	}
	if len(batches) != 1 {
		return nil, fmt.Errorf("%w: a produce must carry exactly one record batch per partition, got %d", kerr.InvalidRecord, len(batches))
	}
	b := batches[0]
	if cfg.MaxMessageBytes > 0 && len(b) > int(cfg.MaxMessageBytes) {
		return nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(b), cfg.MaxMessageBytes)
	}
	maxOut := max(int(h.d.Config.SocketRequestMaxBytes), 1<<20)
	hdr, err := h.d.Codecs.Validate(b, maxOut)
	if err != nil {
		return nil, err
	}
	if hdr.Transactional() {
		return nil, fmt.Errorf("%w: transactional batches are not supported yet", kerr.TransactionalIDAuthorizationFailed)
	}
	if want, ok := storedCodec(cfg.Compression); ok && want != hdr.Codec() {
		if b, err = h.d.Codecs.Recompress(b, want, maxOut); err != nil {
			return nil, fmt.Errorf("recompress to %s: %w", want, err)
		}
	}
	return b, nil
}

// storedCodec maps compression.type to the codec batches are stored in;
// "producer" keeps the producer's.
func storedCodec(compressionType string) (record.Codec, bool) {
	switch compressionType {
	case "uncompressed", "none":
		return record.CodecNone, true
	case "gzip":
		return record.CodecGzip, true
	case "snappy":
		return record.CodecSnappy, true
	case "lz4":
		return record.CodecLz4, true
	case "zstd":
		return record.CodecZstd, true
	}
	return 0, false
}

// awaitProduce waits for every pending partition: its fsync when required,
// then, for acks=all, its high watermark, all under one deadline.
func (h *Handlers) awaitProduce(ctx context.Context, pending []producePending, acks int16, timeout time.Duration) {
	deadline := time.NewTimer(max(timeout, 0))
	defer deadline.Stop()
	for _, p := range pending {
		var err error
		if p.flush {
			err = p.part.Log().WaitFlushed(p.next)
		}
		if err == nil && acks == -1 {
			err = p.part.WaitCommitted(ctx, p.next, p.epoch, deadline.C)
		}
		if err != nil {
			p.resp.ErrorCode, p.resp.ErrorMessage = h.errorCode(err)
		}
	}
}

func findProducePartition(resp *kmsg.ProduceResponse, p producePending) *kmsg.ProduceResponseTopicPartition {
	tp := p.part.TopicPartition()
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.Topic != tp.Topic {
			continue
		}
		for j := range t.Partitions {
			if t.Partitions[j].Partition == tp.Partition {
				return &t.Partitions[j]
			}
		}
	}
	return p.resp
}
