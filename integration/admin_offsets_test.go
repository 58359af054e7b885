package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets, DeleteRecords and OffsetForLeaderEpoch against an in-process
// node; helpers are in admin_test.go.

// produceOneByOne produces each value as its own batch (ProduceSync per
// record), with the given timestamps.
func produceOneByOne(t testing.TB, cl *kgo.Client, topic string, timestamps []time.Time) {
	t.Helper()
	for i, ts := range timestamps {
		r := &kgo.Record{Topic: topic, Value: []byte{byte(i)}, Timestamp: ts}
		if err := cl.ProduceSync(adminCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce record %d: %v", i, err)
		}
	}
}

// listOffset lists one partition's offset at a (special) timestamp with a
// raw request of the given client.
func listOffset(t testing.TB, cl *kgo.Client, topic string, partition int32, ts int64, currentEpoch int32) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, ts, currentEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.ListOffsetsResponse](t, cl, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets answered %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

func TestListOffsets(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	createTopic(t, adm, "lo", 1, nil)
	base := time.UnixMilli(1_700_000_000_000)
	var stamps []time.Time
	for i := range 10 {
		stamps = append(stamps, base.Add(time.Duration(i)*time.Second))
	}
	stamps[5] = base.Add(100 * time.Second) // the largest timestamp, not the last record
	produceOneByOne(t, tn.client(kgo.ProducerLinger(0)), "lo", stamps)

	check := func(what string, got kadm.ListedOffset, offset, timestamp int64) {
		t.Helper()
		if got.Err != nil || got.Offset != offset || got.Timestamp != timestamp || got.LeaderEpoch != 0 {
			t.Fatalf("%s: offset %d timestamp %d epoch %d err %v; want %d, %d, epoch 0", what, got.Offset, got.Timestamp, got.LeaderEpoch, got.Err, offset, timestamp)
		}
	}
	ctx := adminCtx(t)
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	check("latest", end["lo"][0], 10, -1)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	check("earliest", start["lo"][0], 0, -1)
	local, err := adm.ListLocalLogStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	check("earliest local", local["lo"][0], 0, -1)
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base.Add(2500*time.Millisecond).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	check("by timestamp", byTime["lo"][0], 3, base.Add(3*time.Second).UnixMilli())
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	check("max timestamp", maxTS["lo"][0], 5, base.Add(100*time.Second).UnixMilli())

	cl := tn.client()
	if got := listOffset(t, cl, "lo", 0, latestTieredTimestamp, -1); got.ErrorCode != 0 || got.Offset != -1 || got.Timestamp != -1 || got.LeaderEpoch != -1 {
		t.Fatalf("latest tiered: %+v, want -1/-1/-1", got)
	}
	if got := listOffset(t, cl, "lo", 0, base.Add(time.Hour).UnixMilli(), -1); got.ErrorCode != 0 || got.Offset != -1 || got.Timestamp != -1 {
		t.Fatalf("timestamp after every record: %+v, want offset -1", got)
	}
	if got := listOffset(t, cl, "lo", 0, -1, 0); got.ErrorCode != 0 || got.Offset != 10 {
		t.Fatalf("current leader epoch 0: %+v", got)
	}
	wantCode(t, "newer current epoch", listOffset(t, cl, "lo", 0, -1, 1).ErrorCode, kerr.UnknownLeaderEpoch)
	wantCode(t, "unknown partition", listOffset(t, cl, "lo", 3, -1, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "unknown topic", listOffset(t, cl, "nope", 0, -1, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "undefined special timestamp", listOffset(t, cl, "lo", 0, -9, -1).ErrorCode, kerr.UnsupportedVersion)

	// Special timestamps need the version that introduced them.
	for _, tt := range []struct {
		ts      int64
		version int16
	}{{maxTimestampTimestamp, 7}, {earliestLocalTimestamp, 8}, {latestTieredTimestamp, 9}} {
		old := pinnedClient(t, tn.addr(), 2, tt.version-1)
		wantCode(t, "special timestamp below its version", listOffset(t, old, "lo", 0, tt.ts, -1).ErrorCode, kerr.UnsupportedVersion)
		if got := listOffset(t, pinnedClient(t, tn.addr(), 2, tt.version), "lo", 0, tt.ts, -1); got.ErrorCode != 0 {
			t.Fatalf("timestamp %d at v%d: %v", tt.ts, tt.version, kerr.ErrorForCode(got.ErrorCode))
		}
	}

	// Every version answers latest; the leader epoch exists from v4.
	for _, v := range versionsOf(1, 10) {
		got := listOffset(t, pinnedClient(t, tn.addr(), 2, v), "lo", 0, -1, -1)
		wantEpoch := int32(0)
		if v < 4 {
			wantEpoch = -1
		}
		if got.ErrorCode != 0 || got.Offset != 10 || got.LeaderEpoch != wantEpoch {
			t.Fatalf("v%d latest: %+v", v, got)
		}
	}

	// read_committed sees up to the last stable offset, the high watermark
	// until transactions exist.
	rc := kmsg.NewPtrListOffsetsRequest()
	rc.IsolationLevel = 1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	rc.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	if got := send[*kmsg.ListOffsetsResponse](t, cl, rc).Topics[0].Partitions[0]; got.Offset != 10 {
		t.Fatalf("read_committed latest: %+v", got)
	}

	// A partition listed twice is INVALID_REQUEST, answered once.
	dup := kmsg.NewPtrListOffsetsRequest()
	dt := kmsg.NewListOffsetsRequestTopic()
	dt.Topic = "lo"
	dt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp, rp}
	dup.Topics = []kmsg.ListOffsetsRequestTopic{dt}
	got := send[*kmsg.ListOffsetsResponse](t, cl, dup)
	if len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 || got.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("duplicate partition answered %+v", got.Topics)
	}
}

// ListOffsets special timestamps.
const (
	maxTimestampTimestamp  = -3
	earliestLocalTimestamp = -4
	latestTieredTimestamp  = -5
)

func TestDeleteRecordsThenListOffsets(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	createTopic(t, adm, "dr", 1, nil)
	var stamps []time.Time
	for range 10 {
		stamps = append(stamps, time.Now())
	}
	produceOneByOne(t, tn.client(kgo.ProducerLinger(0)), "dr", stamps)

	deleteBefore := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: offset})
		resp, err := adm.DeleteRecords(adminCtx(t), os)
		if err != nil {
			t.Fatalf("delete records before %d: %v", offset, err)
		}
		r, ok := resp.Lookup("dr", 0)
		if !ok {
			t.Fatalf("delete records before %d: no answer", offset)
		}
		return r
	}
	startOffset := func() int64 {
		t.Helper()
		s, err := adm.ListStartOffsets(adminCtx(t), "dr")
		if err != nil || s["dr"][0].Err != nil {
			t.Fatalf("list start offsets: %v %v", err, s["dr"][0].Err)
		}
		return s["dr"][0].Offset
	}

	if r := deleteBefore(4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete before 4: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	if got := startOffset(); got != 4 {
		t.Fatalf("earliest offset %d after deleting before 4", got)
	}
	// Consuming from the start begins at the new log start.
	consumer := tn.client(kgo.ConsumeTopics("dr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := consumer.PollFetches(adminCtx(t))
	if errs := fs.Errors(); len(errs) > 0 {
		t.Fatalf("fetch: %v", errs)
	}
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 4 {
		t.Fatalf("first record consumed after deleting before 4: %+v", recs)
	}
	if r := deleteBefore(2); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete below the log start: low watermark %d, %v; want 4, no error", r.LowWatermark, r.Err)
	}
	if r := deleteBefore(11); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete above the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	if r := deleteBefore(-1); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("delete before the high watermark (-1): low watermark %d, %v", r.LowWatermark, r.Err)
	}
	if got := startOffset(); got != 10 {
		t.Fatalf("earliest offset %d after deleting everything", got)
	}
	if got := endOffsets(t, tn.addr(), "dr"); got != 10 {
		t.Fatalf("end offset %d after deleting everything, want 10", got)
	}

	// Raw requests: every version, unknown partitions and internal topics
	// (an unknown one is unknown first, as in Kafka).
	createTopic(t, adm, "__consumer_offsets", 1, nil)
	for _, v := range versionsOf(0, 2) {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 10000
		for _, tp := range []struct {
			topic     string
			partition int32
		}{{"dr", 0}, {"dr", 5}, {"nope", 0}, {"__consumer_offsets", 0}, {"__transaction_state", 0}} {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = tp.topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = tp.partition, 10
			rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{rp}
			req.Topics = append(req.Topics, rt)
		}
		resp := send[*kmsg.DeleteRecordsResponse](t, pinnedClient(t, tn.addr(), 21, v), req)
		want := []*kerr.Error{nil, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.InvalidTopicException, kerr.UnknownTopicOrPartition}
		if len(resp.Topics) != len(want) {
			t.Fatalf("v%d: %d topics answered, want %d", v, len(resp.Topics), len(want))
		}
		for i, st := range resp.Topics {
			p := st.Partitions[0]
			wantCode(t, st.Topic, p.ErrorCode, want[i])
			if want[i] != nil && p.LowWatermark != -1 {
				t.Fatalf("v%d %s: low watermark %d on error, want -1", v, st.Topic, p.LowWatermark)
			}
		}
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	tn := startNode(t)
	adm := tn.admin()
	createTopic(t, adm, "ofle", 1, nil)
	createTopic(t, adm, "ofle-empty", 1, nil)
	produceSync(t, tn.client(), "ofle", "r", 5)

	for _, v := range versionsOf(2, 4) {
		cl := pinnedClient(t, tn.addr(), 23, v)
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		if v >= 3 {
			req.ReplicaID = 1 // a follower's question gets the same answer
		}
		type ask struct {
			topic                     string
			partition, current, epoch int32
		}
		asks := []ask{
			{"ofle", 0, -1, 0},       // the latest epoch ends at the log end
			{"ofle", 0, 0, 0},        // with a matching current epoch
			{"ofle", 0, -1, 4},       // newer than any epoch: undefined
			{"ofle", 0, 2, 0},        // current epoch newer than the leader's
			{"ofle-empty", 0, -1, 0}, // an empty log's epoch ends at 0
			{"ofle", 3, -1, 0},       // unknown partition
			{"never-created", 0, -1, 0},
		}
		for _, a := range asks {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = a.topic
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = a.partition, a.current, a.epoch
			rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
			req.Topics = append(req.Topics, rt)
		}
		resp := send[*kmsg.OffsetForLeaderEpochResponse](t, cl, req)
		var got []kmsg.OffsetForLeaderEpochResponseTopicPartition
		for _, st := range resp.Topics {
			got = append(got, st.Partitions...)
		}
		want := []struct {
			err    *kerr.Error
			epoch  int32
			offset int64
		}{
			{nil, 0, 5},
			{nil, 0, 5},
			{nil, -1, -1},
			{kerr.UnknownLeaderEpoch, -1, -1},
			{nil, 0, 0},
			{kerr.UnknownTopicOrPartition, -1, -1},
			{kerr.UnknownTopicOrPartition, -1, -1},
		}
		if len(got) != len(want) {
			t.Fatalf("v%d: %d answers, want %d", v, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			wantCode(t, asks[i].topic, g.ErrorCode, w.err)
			if g.LeaderEpoch != w.epoch || g.EndOffset != w.offset {
				t.Fatalf("v%d ask %+v: epoch %d end %d, want %d %d", v, asks[i], g.LeaderEpoch, g.EndOffset, w.epoch, w.offset)
			}
		}
	}

	// kadm's view of the same question.
	var r kadm.OffsetForLeaderEpochRequest
	r.Add("ofle", 0, 0)
	res, err := adm.OffsetForLeaderEpoch(adminCtx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if o := res["ofle"][0]; o.Err != nil || o.LeaderEpoch != 0 || o.EndOffset != 5 {
		t.Fatalf("kadm OffsetForLeaderEpoch: %+v", o)
	}
}
