package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allCodecs lists every codec Kafka defines.
var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd}

const (
	testFirstTimestamp = 1_700_000_000_000
	testMaxDecompress  = 16 << 20
)

// encodeRecord encodes r as Kafka's DefaultRecord, computing its Length
// (kmsg's AppendTo writes whatever Length holds).
func encodeRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	body := r.AppendTo(nil)[1:] // a zero Length is one varint byte
	r.Length = int32(len(body))
	return r.AppendTo(dst)
}

// encodeRecords encodes records back to back, the uncompressed records
// section of a batch.
func encodeRecords(records []kmsg.Record) []byte {
	var out []byte
	for _, r := range records {
		out = encodeRecord(out, r)
	}
	return out
}

// testRecords returns n records with offset deltas 0..n-1, a key, a value of
// valueSize bytes and, on every other record, two headers.
func testRecords(n, valueSize int) []kmsg.Record {
	records := make([]kmsg.Record, n)
	for i := range records {
		value := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		records[i] = kmsg.Record{
			TimestampDelta64: int64(i * 3),
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i)),
			Value:            value,
		}
		if i%2 == 1 {
			records[i].Headers = []kmsg.Header{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}}
		}
	}
	return records
}

// buildBatch builds a valid v2 batch of records compressed with codec, as a
// non-idempotent producer sends it.
func buildBatch(t testing.TB, codec Codec, records ...kmsg.Record) []byte {
	t.Helper()
	return buildBatchWith(t, codec, nil, records...)
}

// buildBatchWith is buildBatch with a hook that may change the header
// fields (to make them lie) before the length and CRC are computed. The
// hook sees Length already set; it may change it too.
func buildBatchWith(t testing.TB, codec Codec, modify func(*kmsg.RecordBatch), records ...kmsg.Record) []byte {
	t.Helper()
	raw := encodeRecords(records)
	payload, err := NewCodecs().Compress(codec, raw)
	if err != nil {
		t.Fatalf("compress %s: %v", codec, err)
	}
	var maxDelta int64
	for _, r := range records {
		maxDelta = max(maxDelta, r.TimestampDelta64)
	}
	batch := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(HeaderSize - LogOverhead + len(payload)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       testFirstTimestamp,
		MaxTimestamp:         testFirstTimestamp + maxDelta,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              payload,
	}
	if modify != nil {
		modify(&batch)
	}
	b := batch.AppendTo(nil)
	fixCRC(b)
	return b
}

// fixCRC recomputes the CRC of the batch b after a test edited it, so the
// edit reaches the checks behind the CRC.
func fixCRC(b []byte) { binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b)) }

// xerialFrame frames raw as snappy-java does, with blocks of blockSize
// (written independently of the package's encoder to test its decoder).
func xerialFrame(t testing.TB, raw []byte, blockSize int) []byte {
	t.Helper()
	out := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
	for len(raw) > 0 {
		n := min(len(raw), blockSize)
		block := snappyBlock(raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		raw = raw[n:]
	}
	return out
}

// collectRecords decodes every record of the batch b.
func collectRecords(t testing.TB, c *Codecs, b []byte) []Record {
	t.Helper()
	var got []Record
	if _, err := c.Records(b, testMaxDecompress, func(r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Records: %v", err)
	}
	return got
}

// sameRecords reports whether decoded records carry what was encoded.
func sameRecords(t testing.TB, got []Record, want []kmsg.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.OffsetDelta != w.OffsetDelta || g.TimestampDelta != w.TimestampDelta64 ||
			!bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) ||
			(g.Key == nil) != (w.Key == nil) || (g.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j, wh := range w.Headers {
			gh := g.Headers[j]
			if gh.Key != wh.Key || !bytes.Equal(gh.Value, wh.Value) || (gh.Value == nil) != (wh.Value == nil) {
				t.Fatalf("record %d header %d: got %+v, want %+v", i, j, gh, wh)
			}
		}
	}
}
