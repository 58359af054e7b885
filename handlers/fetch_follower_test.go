package handlers

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	plog "github.com/samsa-broker/samsa/log"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/record"
	"github.com/samsa-broker/samsa/replica"
)

// followerFetchFixture is node 1 leading t-0 (replicas 1 and 2, epoch 0)
// with three one-record batches, behind the broker handlers.
type followerFetchFixture struct {
	h       *Handlers
	topicID [16]byte
	part    *replica.Partition
	epoch2  int64
}

func newFollowerFetchFixture(t *testing.T) followerFetchFixture {
	t.Helper()
	tc := openTestController(t, map[string]string{"num.partitions": "1"}, 1, 2)
	tc.createTopic(t, "t", map[int32][]int32{0: {1, 2}})
	b, ctrl, logger := tc.broker, tc.ctrl, tc.logger
	topic, _ := ctrl.Image().Topic("t")
	pi := topic.Partitions[0]

	logs, err := plog.NewManager(plog.ManagerConfig{Dirs: []string{t.TempDir()}, NodeID: 1, Defaults: plog.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	replicas := replica.NewManager(replica.ManagerConfig{NodeID: 1, Logs: logs})
	t.Cleanup(func() {
		replicas.Close()
		logs.Close()
	})
	tp := plog.TopicPartition{Topic: "t", Partition: 0}
	st := replica.State{TopicID: topic.ID, Replicas: pi.Replicas, ISR: pi.ISR, Leader: pi.Leader, LeaderEpoch: pi.LeaderEpoch, PartitionEpoch: pi.PartitionEpoch}
	if err := replicas.ApplyState(tp, st, replica.Config{Log: plog.DefaultConfig(), MinInsyncReplicas: 1}); err != nil {
		t.Fatal(err)
	}
	part, _ := replicas.Partition(tp)
	for range 3 {
		if _, err := part.AppendAsLeader(oneBatch(), 1); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Deps{NodeID: 1, Config: b, Replicas: replicas, Controller: ctrl, Codecs: record.NewCodecs(), Logger: logger})
	return followerFetchFixture{h: h, topicID: topic.ID, part: part, epoch2: tc.epochs[2]}
}

func oneBatch() []byte {
	rec := kmsg.NewRecord()
	rec.Value = []byte("v")
	rb := kmsg.NewRecordBatch()
	rb.Magic, rb.NumRecords = 2, 1
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.Records = rec.AppendTo(nil)
	rb.Length = int32(len(rb.AppendTo(nil)) - 12)
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// fetch sends a v17 replica fetch from broker 2 and returns the response
// as a client decodes it.
func (f followerFetchFixture) fetch(t *testing.T, offset int64, lastFetched int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 17
	req.ReplicaState.ID, req.ReplicaState.Epoch = 2, f.epoch2
	req.SessionEpoch = -1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = f.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.LastFetchedEpoch, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = offset, lastFetched, 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	reply, err := f.h.Handle(context.Background(), &protocol.Request{Header: protocol.Header{APIKey: 1, APIVersion: 17}, Body: req})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Response == nil {
		t.Fatal("replica fetch with max wait 0 parked")
	}
	// Round trip through the wire format: DivergingEpoch is a tagged field.
	resp := reply.Response.(*kmsg.FetchResponse)
	resp.SetVersion(17)
	decoded := kmsg.NewPtrFetchResponse()
	decoded.SetVersion(17)
	if err := decoded.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	return decoded.Topics[0].Partitions[0]
}

func TestFollowerFetchReadsToLogEndAndAnswersDivergence(t *testing.T) {
	f := newFollowerFetchFixture(t)
	leo := f.part.Log().LogEndOffset()

	sp := f.fetch(t, 0, -1)
	if sp.ErrorCode != 0 || len(sp.RecordBatches) == 0 {
		t.Fatalf("first fetch: error %d, %d bytes", sp.ErrorCode, len(sp.RecordBatches))
	}
	if sp.HighWatermark != 0 {
		t.Fatalf("HW %d before the follower has anything", sp.HighWatermark)
	}
	// The next fetch at the LEO tells the leader the follower has it all.
	sp = f.fetch(t, leo, 0)
	if sp.ErrorCode != 0 || sp.HighWatermark != leo || f.part.HighWatermark() != leo {
		t.Fatalf("caught-up fetch: error %d, HW %d (partition %d), want %d", sp.ErrorCode, sp.HighWatermark, f.part.HighWatermark(), leo)
	}
	// A follower claiming epoch-0 records past the leader's end diverges.
	sp = f.fetch(t, leo+2, 0)
	if sp.ErrorCode != 0 || sp.DivergingEpoch.Epoch != 0 || sp.DivergingEpoch.EndOffset != leo || len(sp.RecordBatches) != 0 {
		t.Fatalf("diverging fetch: error %d, diverging %+v, %d bytes", sp.ErrorCode, sp.DivergingEpoch, len(sp.RecordBatches))
	}
	// An epoch the leader cannot place is out of range, with the offsets a
	// samsa follower recovers from.
	sp = f.fetch(t, 1, 7)
	if sp.ErrorCode != kerr.OffsetOutOfRange.Code || sp.LogStartOffset != 0 || sp.HighWatermark != leo {
		t.Fatalf("unplaceable epoch: error %d, log start %d, HW %d", sp.ErrorCode, sp.LogStartOffset, sp.HighWatermark)
	}
}
