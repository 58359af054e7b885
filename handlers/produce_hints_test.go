package handlers

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// TestProduceLeaderHintsAfterWait: an acks=all produce whose wait ends
// because leadership moved answers NOT_LEADER_OR_FOLLOWER with the new
// leader and its endpoint (KIP-951), as an immediate refusal does.
func TestProduceLeaderHintsAfterWait(t *testing.T) {
	f := newFollowerFetchFixture(t)
	ctx := context.Background()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 11, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = validBatch("v")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	reply, err := f.h.Handle(ctx, &protocol.Request{Header: protocol.Header{APIKey: 0, APIVersion: 11}, Body: req, Received: time.Now()})
	if err != nil || reply.Wait == nil {
		t.Fatalf("acks=all produce did not wait: %v %+v", err, reply.Response)
	}
	answered := make(chan kmsg.Response, 1)
	go func() { answered <- reply.Wait() }()

	// Broker 1 shuts down: the controller moves leadership to broker 2,
	// and this node applies the new state.
	ctrl := f.h.d.Controller
	img := ctrl.Image()
	if _, err := ctrl.BrokerHeartbeat(ctx, controller.BrokerHeartbeat{NodeID: 1, BrokerEpoch: img.Brokers[1].Epoch,
		CurrentMetadataOffset: img.Offset, WantShutDown: true}); err != nil {
		t.Fatal(err)
	}
	topic, _ := ctrl.Image().Topic("t")
	pi := topic.Partitions[0]
	if pi.Leader != 2 {
		t.Fatalf("leader after controlled shutdown: %+v", pi)
	}
	st := replica.State{TopicID: topic.ID, Replicas: pi.Replicas, ISR: pi.ISR, Leader: pi.Leader, LeaderEpoch: pi.LeaderEpoch, PartitionEpoch: pi.PartitionEpoch}
	if err := f.h.d.Replicas.ApplyState(plog.TopicPartition{Topic: "t"}, st, f.part.Config()); err != nil {
		t.Fatal(err)
	}

	var resp *kmsg.ProduceResponse
	select {
	case r := <-answered:
		resp = r.(*kmsg.ProduceResponse)
	case <-time.After(5 * time.Second):
		t.Fatal("the produce wait did not end when leadership moved")
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != pi.LeaderEpoch {
		t.Fatalf("partition answer: %+v", sp)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Port != 9002 {
		t.Fatalf("brokers: %+v", resp.Brokers)
	}
}

// validBatch is a one-record batch that passes produce validation (record
// length set, CRC-32C computed).
func validBatch(value string) []byte {
	rec := kmsg.NewRecord()
	rec.Value = []byte(value)
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the zero length is one varint byte
	rb := kmsg.NewRecordBatch()
	rb.Magic, rb.NumRecords = 2, 1
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.FirstTimestamp, rb.MaxTimestamp = time.Now().UnixMilli(), time.Now().UnixMilli()
	rb.Records = rec.AppendTo(nil)
	rb.Length = int32(len(rb.AppendTo(nil)) - 12)
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}
