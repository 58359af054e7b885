package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateAcceptsEveryCodec(t *testing.T) {
	c := NewCodecs()
	records := testRecords(10, 200)
	records[3].Key = nil      // null key
	records[4].Value = nil    // null value
	records[5].Key = []byte{} // empty, not null
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			b := buildBatch(t, codec, records...)
			h, sum, err := c.ValidateSummary(b, testMaxDecompress)
			if err != nil {
				t.Fatalf("ValidateSummary: %v", err)
			}
			if h.Codec() != codec || h.NumRecords != 10 || h.LastOffsetDelta != 9 || h.Size() != len(b) {
				t.Fatalf("header %+v", h)
			}
			want := Summary{
				MinTimestamp:      testFirstTimestamp,
				MaxTimestamp:      testFirstTimestamp + 27,
				NullKeys:          1,
				UncompressedBytes: len(encodeRecords(records)),
			}
			if sum != want {
				t.Fatalf("summary %+v, want %+v", sum, want)
			}
			sameRecords(t, collectRecords(t, c, b), records)
		})
	}
}

func TestValidateAcceptsBothSnappyFramings(t *testing.T) {
	c := NewCodecs()
	records := testRecords(50, 1000)
	raw := encodeRecords(records)
	framings := map[string][]byte{
		"raw block":          snappyBlock(raw),
		"xerial 1KB blocks":  xerialFrame(t, raw, 1<<10),
		"xerial 32KB blocks": xerialFrame(t, raw, 32<<10),
	}
	for name, payload := range framings {
		t.Run(name, func(t *testing.T) {
			b := buildBatchWith(t, CodecSnappy, func(rb *kmsg.RecordBatch) {
				rb.Records = payload
				rb.Length = int32(HeaderSize - LogOverhead + len(payload))
			}, records...)
			if _, err := c.Validate(b, testMaxDecompress); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			sameRecords(t, collectRecords(t, c, b), records)
		})
	}
}

// rawRecord encodes one record by hand, for framings kmsg will not write.
func rawRecord(fields ...[]byte) []byte {
	var body []byte
	for _, f := range fields {
		body = append(body, f...)
	}
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func varint(v int64) []byte { return binary.AppendVarint(nil, v) }

// withRecordsSection replaces a batch's records section with raw (an
// uncompressed, hand-made section), fixing Length; the record count stays
// what the hook or buildBatch set.
func withRecordsSection(raw []byte) func(*kmsg.RecordBatch) {
	return func(rb *kmsg.RecordBatch) {
		rb.Records = raw
		rb.Length = int32(HeaderSize - LogOverhead + len(raw))
	}
}

func TestValidateRejects(t *testing.T) {
	c := NewCodecs()
	two := testRecords(2, 10)
	goodRecord := func(delta int64) []byte {
		return rawRecord([]byte{0}, varint(0), varint(delta), varint(-1), varint(1), []byte("v"), varint(0))
	}
	tests := []struct {
		name  string
		batch func(t *testing.T) []byte
		max   int
		want  error
	}{
		{"empty input", func(t *testing.T) []byte { return nil }, 0, ErrCorrupt},
		{"header cut short", func(t *testing.T) []byte { return buildBatch(t, CodecNone, two...)[:40] }, 0, ErrCorrupt},
		{"batch truncated", func(t *testing.T) []byte {
			b := buildBatch(t, CodecNone, two...)
			return b[:len(b)-1]
		}, 0, ErrCorrupt},
		{"bad CRC from a flipped value byte", func(t *testing.T) []byte {
			b := buildBatch(t, CodecNone, two...)
			b[len(b)-3] ^= 0x40
			return b
		}, 0, ErrCorrupt},
		{"bad CRC field", func(t *testing.T) []byte {
			b := buildBatch(t, CodecLz4, two...)
			b[offCRC] ^= 1
			return b
		}, 0, ErrCorrupt},
		{"length says too much", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Length += 5 }, two...)
		}, 0, ErrCorrupt},
		{"length says too little", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Length -= 5 }, two...)
		}, 0, ErrCorrupt},
		{"length below the header", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Length = 20 }, two...)
		}, 0, ErrCorrupt},
		{"magic 1", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Magic = 1 }, two...)
		}, 0, ErrCorrupt},
		{"codec 5", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Attributes |= 5 }, two...)
		}, 0, ErrCorrupt},
		{"codec 7", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Attributes |= 7 }, two...)
		}, 0, ErrCorrupt},
		{"two batches back to back", func(t *testing.T) []byte {
			return append(buildBatch(t, CodecNone, two...), buildBatch(t, CodecNone, two...)...)
		}, 0, ErrInvalidRecord},
		{"count says 3, 2 present", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.NumRecords, rb.LastOffsetDelta = 3, 2 }, two...)
		}, 0, ErrInvalidRecord},
		{"count says 3, 2 present, compressed", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecZstd, func(rb *kmsg.RecordBatch) { rb.NumRecords, rb.LastOffsetDelta = 3, 2 }, two...)
		}, 0, ErrInvalidRecord},
		{"count says 3, last offset delta 1", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.NumRecords = 3 }, two...)
		}, 0, ErrInvalidRecord},
		{"count says 1, 2 present", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.NumRecords, rb.LastOffsetDelta = 1, 0 }, two...)
		}, 0, ErrInvalidRecord},
		{"count says 1, 2 present, compressed", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecGzip, func(rb *kmsg.RecordBatch) { rb.NumRecords, rb.LastOffsetDelta = 1, 0 }, two...)
		}, 0, ErrInvalidRecord},
		{"no records", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.NumRecords, rb.LastOffsetDelta = 0, 0 }, two...)
		}, 0, ErrInvalidRecord},
		{"negative last offset delta", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.LastOffsetDelta = -1 }, two...)
		}, 0, ErrInvalidRecord},
		{"control batch", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.Attributes |= attrControl }, two...)
		}, 0, ErrInvalidRecord},
		{"producer ID without sequence", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) { rb.ProducerID, rb.ProducerEpoch = 7, 0 }, two...)
		}, 0, ErrInvalidRecord},
		{"offset deltas out of order", func(t *testing.T) []byte {
			recs := testRecords(3, 10)
			recs[1].OffsetDelta, recs[2].OffsetDelta = 2, 1
			return buildBatch(t, CodecNone, recs...)
		}, 0, ErrInvalidRecord},
		{"offset deltas out of order, compressed", func(t *testing.T) []byte {
			recs := testRecords(3, 10)
			recs[1].OffsetDelta, recs[2].OffsetDelta = 2, 1
			return buildBatch(t, CodecSnappy, recs...)
		}, 0, ErrInvalidRecord},
		{"offset deltas starting at 1", func(t *testing.T) []byte {
			recs := testRecords(2, 10)
			recs[0].OffsetDelta, recs[1].OffsetDelta = 1, 2
			return buildBatch(t, CodecNone, recs...)
		}, 0, ErrInvalidRecord},
		{"trailing byte after the last record", func(t *testing.T) []byte {
			return buildBatchWith(t, CodecNone, withRecordsSection(append(encodeRecords(two), 0)), two...)
		}, 0, ErrInvalidRecord},
		{"trailing bytes inside a compressed payload", func(t *testing.T) []byte {
			payload, err := c.Compress(CodecLz4, append(encodeRecords(two), 1, 2, 3))
			if err != nil {
				t.Fatal(err)
			}
			return buildBatchWith(t, CodecLz4, func(rb *kmsg.RecordBatch) {
				rb.Records = payload
				rb.Length = int32(HeaderSize - LogOverhead + len(payload))
			}, two...)
		}, 0, ErrInvalidRecord},
		{"record length past the batch", func(t *testing.T) []byte {
			raw := encodeRecords(two)
			raw = append(varint(int64(len(raw))), raw[1:]...) // first record claims everything and more
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"negative record length", func(t *testing.T) []byte {
			raw := append(varint(-3), encodeRecords(two)[1:]...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"fields end before the record length", func(t *testing.T) []byte {
			padded := rawRecord([]byte{0}, varint(0), varint(0), varint(-1), varint(1), []byte("v"), varint(0), []byte{9})
			raw := append(padded, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"value runs past the record", func(t *testing.T) []byte {
			short := rawRecord([]byte{0}, varint(0), varint(0), varint(-1), varint(5), []byte("v"), varint(0))
			raw := append(short, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"negative header count", func(t *testing.T) []byte {
			bad := rawRecord([]byte{0}, varint(0), varint(0), varint(-1), varint(-1), varint(-1))
			raw := append(bad, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"header count past the record", func(t *testing.T) []byte {
			bad := rawRecord([]byte{0}, varint(0), varint(0), varint(-1), varint(-1), varint(1000), varint(0), varint(0))
			raw := append(bad, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"negative header key length", func(t *testing.T) []byte {
			bad := rawRecord([]byte{0}, varint(0), varint(0), varint(-1), varint(-1), varint(1), varint(-1), varint(-1))
			raw := append(bad, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"over-long varint", func(t *testing.T) []byte {
			bad := rawRecord([]byte{0}, varint(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, varint(-1), varint(-1), varint(0))
			raw := append(bad, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"offset delta beyond int32", func(t *testing.T) []byte {
			bad := rawRecord([]byte{0}, varint(0), varint(1<<33), varint(-1), varint(-1), varint(0))
			raw := append(bad, goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"record without attributes", func(t *testing.T) []byte {
			raw := append(rawRecord(), goodRecord(1)...)
			return buildBatchWith(t, CodecNone, withRecordsSection(raw), two...)
		}, 0, ErrInvalidRecord},
		{"garbage gzip payload", garbagePayload(CodecGzip), 0, ErrCorrupt},
		{"garbage snappy payload", garbagePayload(CodecSnappy), 0, ErrCorrupt},
		{"garbage lz4 payload", garbagePayload(CodecLz4), 0, ErrCorrupt},
		{"garbage zstd payload", garbagePayload(CodecZstd), 0, ErrCorrupt},
		{"decompression bomb", func(t *testing.T) []byte {
			big := []kmsg.Record{{OffsetDelta: 0, Value: make([]byte, 4<<20)}}
			return buildBatch(t, CodecZstd, big...)
		}, 1 << 20, ErrCorrupt},
		{"decompression bomb, gzip", func(t *testing.T) []byte {
			big := []kmsg.Record{{OffsetDelta: 0, Value: make([]byte, 4<<20)}}
			return buildBatch(t, CodecGzip, big...)
		}, 1 << 20, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.batch(t)
			max := tt.max
			if max == 0 {
				max = testMaxDecompress
			}
			orig := bytes.Clone(b)
			_, err := c.Validate(b, max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			other := ErrCorrupt
			if tt.want == ErrCorrupt {
				other = ErrInvalidRecord
			}
			if errors.Is(err, other) {
				t.Fatalf("Validate = %v, wraps both sentinels", err)
			}
			if !bytes.Equal(b, orig) {
				t.Fatal("Validate modified its input")
			}
		})
	}
}

// garbagePayload builds a batch that claims codec but whose payload is not
// that codec's output; its CRC is right, so decompression is what fails.
func garbagePayload(codec Codec) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x01}, 20)
		return buildBatchWith(t, codec, withRecordsSection(junk), testRecords(2, 10)...)
	}
}

func TestValidateAcceptsIdempotentAndTransactionalBatches(t *testing.T) {
	c := NewCodecs()
	b := buildBatchWith(t, CodecNone, func(rb *kmsg.RecordBatch) {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = 1234, 3, 2147483646
		rb.Attributes |= attrTransactional
	}, testRecords(4, 10)...)
	h, err := c.Validate(b, testMaxDecompress)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !h.Idempotent() || !h.Transactional() || h.Control() || h.LastSequence() != 1 {
		t.Fatalf("header %+v: idempotent %v transactional %v last sequence %d", h, h.Idempotent(), h.Transactional(), h.LastSequence())
	}
}

func TestValidateAllocatesNothingForUncompressedBatches(t *testing.T) {
	c := NewCodecs()
	b := buildBatch(t, CodecNone, testRecords(100, 1000)...)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := c.Validate(b, testMaxDecompress); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Validate allocated %v times per call", allocs)
	}
}

// The base offset and leader epoch sit outside the CRC, and SetLogAppendTime
// recomputes it: a stamped batch must still validate.
func TestHeaderRewritesKeepBatchValid(t *testing.T) {
	c := NewCodecs()
	const appendTime = testFirstTimestamp + 5000
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			b := buildBatch(t, codec, testRecords(5, 50)...)
			SetBaseOffset(b, 1_000_000)
			SetPartitionLeaderEpoch(b, 42)
			SetLogAppendTime(b, appendTime)
			h, err := c.Validate(b, testMaxDecompress)
			if err != nil {
				t.Fatalf("Validate after rewrites: %v", err)
			}
			if h.BaseOffset != 1_000_000 || h.PartitionLeaderEpoch != 42 || !h.LogAppendTime() ||
				h.MaxTimestamp != appendTime || h.LastOffset() != 1_000_004 || h.NextOffset() != 1_000_005 {
				t.Fatalf("header %+v", h)
			}
			for i, r := range collectRecords(t, c, b) {
				if r.Offset != 1_000_000+int64(i) || r.Timestamp != appendTime {
					t.Fatalf("record %d: offset %d timestamp %d", i, r.Offset, r.Timestamp)
				}
			}
		})
	}
}

func TestRecompressBetweenEveryPairOfCodecs(t *testing.T) {
	c := NewCodecs()
	records := testRecords(40, 300)
	for _, from := range allCodecs {
		for _, to := range allCodecs {
			t.Run(from.String()+"_to_"+to.String(), func(t *testing.T) {
				b := buildBatchWith(t, from, func(rb *kmsg.RecordBatch) {
					rb.FirstOffset, rb.PartitionLeaderEpoch = 77, 3
					rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = 9, 1, 100
					rb.Attributes |= attrTransactional
				}, records...)
				orig := bytes.Clone(b)
				out, err := c.Recompress(b, to, testMaxDecompress)
				if err != nil {
					t.Fatalf("Recompress: %v", err)
				}
				if !bytes.Equal(b, orig) {
					t.Fatal("Recompress modified its input")
				}
				h, err := c.Validate(out, testMaxDecompress)
				if err != nil {
					t.Fatalf("Validate recompressed: %v", err)
				}
				before, _ := ParseHeader(b)
				if h.Codec() != to {
					t.Fatalf("codec %s, want %s", h.Codec(), to)
				}
				// Every field but codec bits, Length and CRC carries over.
				want := before
				want.Attributes = before.Attributes&^attrCompressionMask | int16(to)
				want.Length, want.CRC = h.Length, h.CRC
				if h != want {
					t.Fatalf("header %+v, want %+v", h, want)
				}
				sameRecords(t, collectRecords(t, c, out), records)

				back, err := c.Recompress(out, from, testMaxDecompress)
				if err != nil {
					t.Fatalf("Recompress back: %v", err)
				}
				if _, err := c.Validate(back, testMaxDecompress); err != nil {
					t.Fatalf("Validate recompressed back: %v", err)
				}
				sameRecords(t, collectRecords(t, c, back), records)
				if from == to && &out[0] != &b[0] {
					t.Fatal("Recompress to the same codec copied the batch")
				}
			})
		}
	}
}

func TestRecompressRejectsBadInput(t *testing.T) {
	c := NewCodecs()
	good := buildBatch(t, CodecGzip, testRecords(3, 10)...)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name string
		b    []byte
		to   Codec
		max  int
		want error
	}{
		{"bad CRC", badCRC, CodecNone, testMaxDecompress, ErrCorrupt},
		{"truncated", good[:len(good)-2], CodecZstd, testMaxDecompress, ErrCorrupt},
		{"garbage payload", garbagePayload(CodecLz4)(t), CodecNone, testMaxDecompress, ErrCorrupt},
		{"over the bound", good, CodecZstd, 10, ErrCorrupt},
		{"unknown target codec", good, Codec(5), testMaxDecompress, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.Recompress(tt.b, tt.to, tt.max)
			if err == nil || out != nil {
				t.Fatalf("Recompress = %d bytes, %v; want an error", len(out), err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Recompress = %v, want %v", err, tt.want)
			}
		})
	}
}

// benchRecords returns n records whose values are size bytes of text drawn
// from a small vocabulary: compressible about as well as typical JSON or log
// payloads, unlike testRecords' runs of one letter.
func benchRecords(n, size int) []kmsg.Record {
	words := strings.Fields(`id name user_id timestamp "status": "ok", "error": null, value count
		region eu-west-1 us-east-2 order item price 19.99 42 true false {"key": [1, 2, 3]}`)
	rng := rand.New(rand.NewPCG(7, 11))
	records := make([]kmsg.Record, n)
	for i := range records {
		var value []byte
		for len(value) < size {
			value = append(value, words[rng.IntN(len(words))]...)
			value = append(value, ' ')
			value = strconv.AppendUint(value, uint64(rng.Uint32()), 10)
			value = append(value, ' ')
		}
		records[i] = kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              strconv.AppendInt(nil, int64(rng.Uint32()), 10),
			Value:            value[:size],
		}
	}
	return records
}

// BenchmarkValidate measures the produce hot path on 100 records of 1KB;
// throughput is counted in uncompressed batch bytes so codecs compare.
func BenchmarkValidate(b *testing.B) {
	c := NewCodecs()
	records := benchRecords(100, 1024)
	plain := len(buildBatch(b, CodecNone, records...))
	for _, codec := range allCodecs {
		batch := buildBatch(b, codec, records...)
		b.Run(codec.String()+"/100x1KB", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(plain))
			for b.Loop() {
				if _, err := c.Validate(batch, testMaxDecompress); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
