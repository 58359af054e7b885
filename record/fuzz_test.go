package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzValidate feeds arbitrary bytes to everything here that parses a
// batch. None may panic; errors must wrap ErrCorrupt or ErrInvalidRecord;
// and a batch Validate accepts must stay acceptable through the rewrites
// the broker applies (base offset, leader epoch, log-append time,
// recompression) and be readable by Records and Split. Seeds come from
// f.Add below and from testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	for _, codec := range allCodecs {
		f.Add(buildBatch(f, codec, testRecords(3, 20)...))
	}
	f.Add(buildBatchWith(f, CodecNone, func(rb *kmsg.RecordBatch) {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = 1, 0, 0
		rb.Attributes |= attrTransactional
	}, testRecords(2, 3)...))
	raw := encodeRecords(testRecords(4, 40))
	xerial := xerialFrame(f, raw, 64)
	f.Add(buildBatchWith(f, CodecSnappy, withRecordsSection(xerial), testRecords(4, 40)...))
	f.Add(append(buildBatch(f, CodecNone, testRecords(1, 1)...), buildBatch(f, CodecLz4, testRecords(1, 1)...)...))

	c := NewCodecs()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBatchHandling(t, c, data)
		// Random bytes almost never carry a matching CRC-32C, which would
		// keep the fuzzer out of everything behind the CRC check; a copy
		// with its CRC recomputed takes it into decompression and the
		// record walk.
		if len(data) >= HeaderSize {
			fixed := bytes.Clone(data)
			if h, err := ParseHeader(fixed); err == nil && h.Size() <= len(fixed) {
				fixCRC(fixed[:h.Size()])
				checkBatchHandling(t, c, fixed)
			}
		}
	})
}

func checkBatchHandling(t *testing.T, c *Codecs, data []byte) {
	t.Helper()
	const maxOut = 1 << 20
	orig := bytes.Clone(data)

	if batches, err := Split(data); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Split error %v does not wrap ErrCorrupt", err)
	} else {
		total := 0
		for _, b := range batches {
			total += len(b)
		}
		if total > len(data) {
			t.Fatalf("Split returned %d bytes from %d", total, len(data))
		}
	}

	records := 0
	_, recordsErr := c.Records(data, maxOut, func(Record) error { records++; return nil })
	h, err := c.Validate(data, maxOut)
	if !bytes.Equal(data, orig) {
		t.Fatal("input modified")
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Validate error %v wraps neither sentinel", err)
		}
		if recordsErr != nil && !errors.Is(recordsErr, ErrCorrupt) && !errors.Is(recordsErr, ErrInvalidRecord) {
			t.Fatalf("Records error %v wraps neither sentinel", recordsErr)
		}
		return
	}
	if recordsErr != nil || records != int(h.NumRecords) {
		t.Fatalf("Validate accepts %d records, Records gives %d and %v", h.NumRecords, records, recordsErr)
	}
	if batches, err := Split(data); err != nil || len(batches) != 1 {
		t.Fatalf("Split of a valid batch: %d batches, %v", len(batches), err)
	}

	b := bytes.Clone(data)
	SetBaseOffset(b, 1<<33)
	SetPartitionLeaderEpoch(b, 17)
	if h2, err := c.Validate(b, maxOut); err != nil || h2.BaseOffset != 1<<33 || h2.PartitionLeaderEpoch != 17 {
		t.Fatalf("after SetBaseOffset/SetPartitionLeaderEpoch: %+v, %v", h2, err)
	}
	SetLogAppendTime(b, 1_800_000_000_000)
	if _, err := c.Validate(b, maxOut); err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}

	for _, to := range allCodecs {
		out, err := c.Recompress(data, to, maxOut)
		if err != nil {
			t.Fatalf("Recompress to %s: %v", to, err)
		}
		if _, err := c.Validate(out, 4*maxOut); err != nil {
			t.Fatalf("Validate after Recompress to %s: %v", to, err)
		}
	}
}
