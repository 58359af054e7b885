package log

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/samsa-broker/samsa/record"
)

// Batch attribute bits the cleaner reads or writes besides what the record
// package decodes.
const (
	batchAttrCodecMask = 0x07
	// batchAttrDeleteHorizon marks a batch whose first timestamp is its
	// delete horizon (KIP-534, Kafka's DefaultRecordBatch
	// DELETE_HORIZON_FLAG_MASK): the time after which the cleaner may drop
	// its tombstones.
	batchAttrDeleteHorizon = 0x40
	// noTimestamp is Kafka's RecordBatch.NO_TIMESTAMP.
	noTimestamp = -1
)

// deleteHorizon returns the batch's delete horizon (KIP-534: its first
// timestamp, when the flag is set).
func deleteHorizon(h record.Header) (int64, bool) {
	if h.Attributes&batchAttrDeleteHorizon == 0 {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// producerLastRecord is what the cleaner needs of an active producer
// (Kafka's LastRecord): the last offset of its last data batch (-1 when it
// has none) and its epoch.
type producerLastRecord struct {
	lastDataOffset int64
	epoch          int16
}

// batchFilter decides which records of a batch survive a cleaning and
// writes the batch that holds them: Kafka's Cleaner.cleanInto filter and
// shouldRetainRecord, and MemoryRecords.filterTo's rebuilding of a batch.
type batchFilter struct {
	codecs            *record.Codecs
	offsets           *offsetMap
	nowMs             int64
	deleteRetentionMs int64
	lastRecords       map[int64]producerLastRecord
	// upperBound is the round's first uncleanable offset: the batch that
	// ends just below it is kept even when emptied, so that the last
	// offset before the uncleanable part stays in the log (Kafka's
	// upperBoundOffsetOfCleaningRound).
	upperBound int64

	kept []record.Record // scratch: the retained records of one batch
	raw  []byte          // scratch: their encoding, before compression

	recordsRead, recordsKept int64
}

// filter returns the batch b (header h) as it goes into the cleaned
// segment: b itself when every record stays and nothing needs rewriting, a
// rebuilt batch with the retained records, an empty batch that keeps only
// the header (an idempotent producer's last batch, or the round's last
// batch), or nil when the batch goes entirely. A rebuilt batch keeps the
// base offset, last offset delta, partition leader epoch, producer ID,
// epoch, base sequence, codec and timestamp type: offsets are never
// changed, and a producer's last sequence survives (Kafka's
// buildRetainedRecordsInto and overrideLastOffset).
func (f *batchFilter) filter(b []byte, h record.Header) ([]byte, error) {
	if h.Control() {
		// Transaction markers: samsa writes no transactions yet, so there
		// is no transaction state that would let one go; keep it whole.
		return b, nil
	}
	retainEmpty := f.isLastBatchOfProducer(h) || h.NextOffset() == f.upperBound
	f.kept = f.kept[:0]
	unchanged, tombstones := true, false
	_, err := f.codecs.Records(b, maxDecompressedLookup, func(r record.Record) error {
		f.recordsRead++
		if !f.keep(h, r) {
			unchanged = false
			return nil
		}
		if r.Value == nil {
			tombstones = true
		}
		f.kept = append(f.kept, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	f.recordsKept += int64(len(f.kept))
	if len(f.kept) == 0 {
		if retainEmpty {
			return emptyBatch(h), nil
		}
		return nil, nil
	}
	// KIP-534: the first cleaning that keeps a tombstone stamps its batch
	// with a delete horizon, now + delete.retention.ms; a later cleaning
	// drops the tombstone once the horizon has passed.
	horizon, hasHorizon := deleteHorizon(h)
	needHorizon := tombstones && !hasHorizon
	if unchanged && !needHorizon {
		return b, nil
	}
	if needHorizon {
		horizon, hasHorizon = saturatingAdd(f.nowMs, f.deleteRetentionMs), true
	}
	if !hasHorizon {
		horizon = noTimestamp
	}
	return f.rebuild(h, horizon)
}

// keep is Kafka's Cleaner.shouldRetainRecord for a v2 batch: a record past
// the map's end is kept unseen; a keyless one goes; otherwise it stays if it
// is the latest of its key and holds a value, or is a tombstone whose
// batch's delete horizon has not passed (or is not set yet).
func (f *batchFilter) keep(h record.Header, r record.Record) bool {
	if r.Offset > f.offsets.latest {
		return true
	}
	if r.Key == nil {
		return false
	}
	if r.Offset < f.offsets.get(hashKey(r.Key)) {
		return false
	}
	if r.Value != nil {
		return true
	}
	horizon, ok := deleteHorizon(h)
	return !ok || f.nowMs < horizon
}

// isLastBatchOfProducer is Kafka's isBatchLastRecordOfProducer: the batch
// holds its active producer's last data offset (and so its last sequence),
// or, for a producer whose last entry is a marker, is that marker.
func (f *batchFilter) isLastBatchOfProducer(h record.Header) bool {
	if h.ProducerID < 0 {
		return false
	}
	last, ok := f.lastRecords[h.ProducerID]
	if !ok {
		return false
	}
	if last.lastDataOffset >= 0 {
		return h.LastOffset() == last.lastDataOffset
	}
	return h.Control() && h.ProducerEpoch == last.epoch
}

// rebuild encodes f.kept as a batch in h's place, compressed with h's codec,
// its first timestamp the delete horizon when there is one (KIP-534) and
// the first record's timestamp otherwise, as Kafka's MemoryRecordsBuilder
// does.
func (f *batchFilter) rebuild(h record.Header, horizon int64) ([]byte, error) {
	baseTs := horizon
	if horizon == noTimestamp {
		baseTs = f.kept[0].Timestamp
	}
	maxTs := int64(noTimestamp)
	f.raw = f.raw[:0]
	for _, r := range f.kept {
		f.raw = appendRecord(f.raw, r, r.Timestamp-baseTs)
		maxTs = max(maxTs, r.Timestamp)
	}
	if h.LogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	out := make([]byte, record.HeaderSize, record.HeaderSize+len(f.raw))
	out, err := f.codecs.AppendCompressed(out, h.Codec(), f.raw)
	if err != nil {
		return nil, fmt.Errorf("recompress batch at offset %d with %s: %w", h.BaseOffset, h.Codec(), err)
	}
	if len(out)-record.LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("rebuilt batch at offset %d is %d bytes", h.BaseOffset, len(out))
	}
	nh := h
	nh.Attributes &^= batchAttrDeleteHorizon
	if horizon != noTimestamp {
		nh.Attributes |= batchAttrDeleteHorizon
	}
	nh.FirstTimestamp, nh.MaxTimestamp = baseTs, maxTs
	nh.NumRecords = int32(len(f.kept))
	putBatchHeader(out, nh)
	return out, nil
}

// emptyBatch is Kafka's DefaultRecordBatch.writeEmptyHeader: h's offsets,
// epoch, producer fields, timestamp type and max timestamp, no records,
// uncompressed, no first timestamp.
func emptyBatch(h record.Header) []byte {
	out := make([]byte, record.HeaderSize)
	nh := h
	nh.Attributes &^= batchAttrCodecMask | batchAttrDeleteHorizon
	nh.FirstTimestamp = noTimestamp
	nh.NumRecords = 0
	putBatchHeader(out, nh)
	return out
}

// putBatchHeader writes h into the first 61 bytes of b, a whole batch
// (layout in FORMAT.md), with Length taken from len(b) and the CRC-32C
// computed over the rest, which must already be in place.
func putBatchHeader(b []byte, h record.Header) {
	binary.BigEndian.PutUint64(b[0:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-record.LogOverhead))
	binary.BigEndian.PutUint32(b[12:], uint32(h.PartitionLeaderEpoch))
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[23:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[27:], uint64(h.FirstTimestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[43:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[51:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[57:], uint32(h.NumRecords))
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
}

// appendRecord appends r in Kafka's DefaultRecord encoding with the given
// timestamp delta and r's offset delta. Record attributes are written as 0,
// as Kafka's DefaultRecord.writeTo does (no bit is defined).
func appendRecord(dst []byte, r record.Record, tsDelta int64) []byte {
	size := 1 + varintLen(tsDelta) + varintLen(int64(r.OffsetDelta)) +
		bytesFieldLen(r.Key) + bytesFieldLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, hd := range r.Headers {
		size += varintLen(int64(len(hd.Key))) + len(hd.Key) + bytesFieldLen(hd.Value)
	}
	dst = binary.AppendVarint(dst, int64(size))
	dst = append(dst, 0)
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, hd := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(hd.Key)))
		dst = append(dst, hd.Key...)
		dst = appendBytesField(dst, hd.Value)
	}
	return dst
}

// appendBytesField appends a varint length and the bytes; nil is length -1.
func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

func bytesFieldLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v)<<1 ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// saturatingAdd returns a+b for b >= 0, capped at MaxInt64 (Kafka's
// currentTime + deleteRetentionMs would wrap negative for a huge
// delete.retention.ms and drop tombstones at once).
func saturatingAdd(a, b int64) int64 {
	if a > 0 && b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}
