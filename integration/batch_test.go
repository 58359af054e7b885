package integration

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawBatch encodes an uncompressed v2 batch of values the way a producer
// does, with a valid CRC-32C, so tests can send exact bytes.
func rawBatch(producerID int64, epoch int16, baseSeq int32, values ...string) []byte {
	var records []byte
	for i, v := range values {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Value = []byte(v)
		// With Length 0, AppendTo writes a one-byte length of zero before
		// the body; drop it and prefix the real length.
		body := r.AppendTo(nil)[1:]
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        baseSeq,
		NumRecords:           int32(len(values)),
		Records:              records,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// produceRaw sends one batch to partition 0 of topic with acks=all and
// returns the partition's answer.
func produceRaw(t testing.TB, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRawTo(t, cl, cl, topic, batch)
}

// produceRawTo is produceRaw sent through r, e.g. one broker of cl's.
func produceRawTo(t testing.TB, cl *kgo.Client, r kmsg.Requestor, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	// kgo sends the highest version both sides support; from v13 topics are
	// named by ID.
	rt.TopicID = topicID(t, cl, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

func initProducerID(t testing.TB, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func TestIdempotentDuplicateStoredOnce(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "idem", 1, nil)
	cl := tn.client()
	pid, epoch := initProducerID(t, cl)

	first := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 0, "a", "b"))
	if first.ErrorCode != 0 {
		t.Fatalf("first produce: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	second := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 2, "c"))
	if second.ErrorCode != 0 || second.BaseOffset != 2 {
		t.Fatalf("second produce: offset %d err %v", second.BaseOffset, kerr.ErrorForCode(second.ErrorCode))
	}
	// A retry of the first batch is answered with its original offset and
	// not stored again.
	retry := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 0, "a", "b"))
	if retry.ErrorCode != 0 || retry.BaseOffset != first.BaseOffset {
		t.Fatalf("retry: offset %d err %v, want offset %d and no error", retry.BaseOffset, kerr.ErrorForCode(retry.ErrorCode), first.BaseOffset)
	}
	// A gap is refused.
	gap := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 10, "z"))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: got %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(gap.ErrorCode))
	}
	// The duplicate is still recognised after a restart.
	tn.restart()
	cl = tn.client()
	retry = produceRaw(t, cl, "idem", rawBatch(pid, epoch, 2, "c"))
	if retry.ErrorCode != 0 || retry.BaseOffset != 2 {
		t.Fatalf("retry after restart: offset %d err %v", retry.BaseOffset, kerr.ErrorForCode(retry.ErrorCode))
	}
	got := consumeN(t, tn.addr(), "idem", 3)
	if want := []string{"a", "b", "c"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("log holds %q, want %q", got, want)
	}
	// Nothing beyond the three records.
	end := listEnd(t, cl, "idem")
	if end != 3 {
		t.Fatalf("end offset %d, want 3", end)
	}
}

func listEnd(t testing.TB, cl *kgo.Client, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("list offsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

func TestBadBatchesRefusedAndNothingStored(t *testing.T) {
	tn := startNode(t)
	createTopic(t, tn.admin(), "bad", 1, nil)
	cl := tn.client()
	good := rawBatch(-1, -1, -1, "x", "y")

	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0xff

	lyingCount := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(lyingCount[57:], 5)
	binary.BigEndian.PutUint32(lyingCount[17:], crc32.Checksum(lyingCount[21:], crc32.MakeTable(crc32.Castagnoli)))

	garbageGzip := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(garbageGzip[21:], 1) // claims gzip
	binary.BigEndian.PutUint32(garbageGzip[17:], crc32.Checksum(garbageGzip[21:], crc32.MakeTable(crc32.Castagnoli)))

	truncated := good[:len(good)-3]

	cases := []struct {
		name  string
		batch []byte
		want  []int16
	}{
		{"corrupt CRC", badCRC, []int16{kerr.CorruptMessage.Code}},
		{"record count lies", lyingCount, []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
		{"garbage compressed payload", garbageGzip, []int16{kerr.CorruptMessage.Code}},
		{"truncated batch", truncated, []int16{kerr.CorruptMessage.Code}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := produceRaw(t, cl, "bad", c.batch)
			ok := false
			for _, w := range c.want {
				ok = ok || got.ErrorCode == w
			}
			if !ok {
				t.Fatalf("got %v, want one of %v", kerr.ErrorForCode(got.ErrorCode), c.want)
			}
		})
	}
	if end := listEnd(t, cl, "bad"); end != 0 {
		t.Fatalf("refused batches changed the log: end offset %d", end)
	}
	// The broker still works.
	if got := produceRaw(t, cl, "bad", good); got.ErrorCode != 0 {
		t.Fatalf("good batch after bad ones: %v", kerr.ErrorForCode(got.ErrorCode))
	}
}
