package record

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseHeaderReadsEveryField(t *testing.T) {
	b := buildBatchWith(t, CodecLz4, func(rb *kmsg.RecordBatch) {
		rb.FirstOffset, rb.PartitionLeaderEpoch = 1<<40, 9
		rb.Attributes |= attrTimestampType | attrTransactional
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = 5, 6, 7
	}, testRecords(3, 10)...)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	want := Header{
		BaseOffset: 1 << 40, Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 9, Magic: 2,
		CRC: ComputeCRC(b), Attributes: int16(CodecLz4) | attrTimestampType | attrTransactional,
		LastOffsetDelta: 2, FirstTimestamp: testFirstTimestamp, MaxTimestamp: testFirstTimestamp + 6,
		ProducerID: 5, ProducerEpoch: 6, BaseSequence: 7, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("header\n%+v, want\n%+v", h, want)
	}
	if h.Codec() != CodecLz4 || !h.LogAppendTime() || !h.Transactional() || h.Control() || !h.Idempotent() ||
		h.Size() != len(b) || h.LastOffset() != 1<<40+2 || h.NextOffset() != 1<<40+3 || h.LastSequence() != 9 {
		t.Fatalf("accessors disagree with %+v", h)
	}
	if !CheckCRC(b) {
		t.Fatal("CheckCRC rejects a built batch")
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good := buildBatch(t, CodecNone, testRecords(1, 1)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"60 bytes", good[:HeaderSize-1]},
		{"magic 0", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Magic = 0 }, testRecords(1, 1)...)},
		{"magic 3", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Magic = 3 }, testRecords(1, 1)...)},
		{"length 48", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Length = 48 }, testRecords(1, 1)...)},
		{"negative length", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Length = -1 }, testRecords(1, 1)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseHeader(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseHeader = %v, want ErrCorrupt", err)
			}
		})
	}
	if CheckCRC(good[:HeaderSize-1]) {
		t.Fatal("CheckCRC accepts a short buffer")
	}
}

// Sequence numbers wrap from MaxInt32 to 0, as DefaultRecordBatch's
// incrementSequence does.
func TestIncrementSequenceWraps(t *testing.T) {
	tests := []struct{ seq, delta, want int32 }{
		{0, 0, 0},
		{0, 4, 4},
		{math.MaxInt32 - 4, 4, math.MaxInt32},
		{math.MaxInt32 - 4, 5, 0},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32, 10, 9},
		{math.MaxInt32 - 1, math.MaxInt32, math.MaxInt32 - 2},
	}
	for _, tt := range tests {
		if got := IncrementSequence(tt.seq, tt.delta); got != tt.want {
			t.Errorf("IncrementSequence(%d, %d) = %d, want %d", tt.seq, tt.delta, got, tt.want)
		}
	}
	if got := (Header{BaseSequence: -1, LastOffsetDelta: 3}).LastSequence(); got != -1 {
		t.Errorf("LastSequence without a sequence = %d, want -1", got)
	}
}

func TestSetLogAppendTimeSetsTypeAndTimestamp(t *testing.T) {
	b := buildBatch(t, CodecGzip, testRecords(2, 10)...)
	SetLogAppendTime(b, 123)
	h, err := ParseHeader(b)
	if err != nil || !CheckCRC(b) {
		t.Fatalf("ParseHeader %v, CRC valid %v", err, CheckCRC(b))
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 123 || h.FirstTimestamp != testFirstTimestamp || h.Codec() != CodecGzip {
		t.Fatalf("header %+v", h)
	}
}

func TestSplit(t *testing.T) {
	a := buildBatch(t, CodecNone, testRecords(1, 5)...)
	b := buildBatch(t, CodecZstd, testRecords(3, 50)...)
	c := buildBatch(t, CodecSnappy, testRecords(2, 500)...)
	joined := bytes.Join([][]byte{a, b, c}, nil)
	tests := []struct {
		name    string
		buf     []byte
		want    [][]byte
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"one", a, [][]byte{a}, false},
		{"three", joined, [][]byte{a, b, c}, false},
		{"last cut short", joined[:len(joined)-1], [][]byte{a, b}, true},
		{"tail shorter than a header", append(bytes.Clone(a), b[:20]...), [][]byte{a}, true},
		{"tail with a bad magic", append(bytes.Clone(a), buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Magic = 1 }, testRecords(1, 5)...)...), [][]byte{a}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.buf)
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("Split error = %v, want error %v (ErrCorrupt)", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Split gave %d batches, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("batch %d differs", i)
				}
				if cap(got[i]) != len(got[i]) {
					t.Fatalf("batch %d has capacity past its end", i)
				}
			}
		})
	}
	// The batches alias the buffer rather than copy it.
	got, _ := Split(joined)
	if &got[1][0] != &joined[len(a)] {
		t.Fatal("Split copied the batches")
	}
}

func TestRecordsDecodesFieldsAndOffsets(t *testing.T) {
	c := NewCodecs()
	records := []kmsg.Record{
		{OffsetDelta: 0, TimestampDelta64: 0, Key: nil, Value: []byte("v0")},
		{OffsetDelta: 1, TimestampDelta64: -5, Key: []byte{}, Value: nil, Attributes: 0},
		{OffsetDelta: 2, TimestampDelta64: 1 << 40, Key: []byte("k"), Value: []byte{},
			Headers: []kmsg.Header{{Key: "", Value: []byte{}}, {Key: "trace", Value: nil}}},
	}
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			b := buildBatchWith(t, codec, func(rb *kmsg.RecordBatch) { rb.FirstOffset = 500 }, records...)
			got := collectRecords(t, c, b)
			sameRecords(t, got, records)
			for i, r := range got {
				if r.Offset != 500+int64(i) || r.Timestamp != testFirstTimestamp+records[i].TimestampDelta64 {
					t.Fatalf("record %d: offset %d timestamp %d", i, r.Offset, r.Timestamp)
				}
			}
			_, sum, err := c.ValidateSummary(b, testMaxDecompress)
			if err != nil {
				t.Fatal(err)
			}
			if sum.MinTimestamp != testFirstTimestamp-5 || sum.MaxTimestamp != testFirstTimestamp+1<<40 || sum.NullKeys != 1 {
				t.Fatalf("summary %+v", sum)
			}
		})
	}
}

// A log holds batches a client may not produce: transaction markers, and
// batches that compaction emptied or thinned. Records reads them.
func TestRecordsAcceptsWhatALogHolds(t *testing.T) {
	c := NewCodecs()
	gappy := testRecords(3, 10)
	gappy[1].OffsetDelta, gappy[2].OffsetDelta = 4, 9
	tests := []struct {
		name    string
		b       []byte
		offsets []int64
	}{
		{"control batch", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) {
			rb.Attributes |= attrControl | attrTransactional
			rb.ProducerID, rb.ProducerEpoch = 3, 0
		}, testRecords(1, 4)...), []int64{0}},
		{"emptied by compaction", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) {
			rb.NumRecords, rb.LastOffsetDelta = 0, 7
		}), nil},
		{"gaps left by compaction", buildBatchWith(t, CodecZstd, func(rb *kmsg.RecordBatch) {
			rb.LastOffsetDelta = 9
		}, gappy...), []int64{0, 4, 9}},
		{"timestamps without a value", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) {
			rb.FirstTimestamp, rb.MaxTimestamp = -1, -1
		}, kmsg.Record{OffsetDelta: 0}), []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var offsets []int64
			if _, err := c.Records(tt.b, testMaxDecompress, func(r Record) error {
				offsets = append(offsets, r.Offset)
				return nil
			}); err != nil {
				t.Fatalf("Records: %v", err)
			}
			if !slices.Equal(offsets, tt.offsets) {
				t.Fatalf("offsets %v, want %v", offsets, tt.offsets)
			}
		})
	}
}

func TestRecordsStopsAtCallbackError(t *testing.T) {
	c := NewCodecs()
	b := buildBatch(t, CodecGzip, testRecords(5, 10)...)
	stop := errors.New("stop")
	calls := 0
	_, err := c.Records(b, testMaxDecompress, func(Record) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("Records = %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func TestRecordsRejectsCorruptBatches(t *testing.T) {
	c := NewCodecs()
	badCRC := buildBatch(t, CodecNone, testRecords(2, 10)...)
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"bad CRC", badCRC, ErrCorrupt},
		{"negative count", buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.NumRecords = -1 }, testRecords(2, 10)...), ErrInvalidRecord},
		{"count says 3, 2 present", buildBatchWith(t, CodecLz4, func(rb *kmsg.RecordBatch) { rb.NumRecords = 3 }, testRecords(2, 10)...), ErrInvalidRecord},
		{"garbage payload", garbagePayload(CodecGzip)(t), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Records(tt.b, testMaxDecompress, func(Record) error { return nil }); !errors.Is(err, tt.want) {
				t.Fatalf("Records = %v, want %v", err, tt.want)
			}
		})
	}
}

// Records' slices must stay valid after it returns, even for compressed
// batches decoded while other calls reuse the codec's buffers.
func TestRecordsResultsOutliveTheCall(t *testing.T) {
	c := NewCodecs()
	records := testRecords(20, 100)
	b := buildBatch(t, CodecSnappy, records...)
	got := collectRecords(t, c, b)
	for range 5 {
		other := buildBatch(t, CodecSnappy, testRecords(20, 300)...)
		if _, err := c.Validate(other, testMaxDecompress); err != nil {
			t.Fatal(err)
		}
		collectRecords(t, c, other)
	}
	sameRecords(t, got, records)
}
